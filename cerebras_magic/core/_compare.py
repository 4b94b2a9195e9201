"""Grids: one prompt, several models or parameter values (or n samples), all streaming at once.

A grid cell is an Ask variant (`ask.replace(params=...)`), so parameters still map to the wire in one
place. The cells run on the AsyncClient through `Session.arun` with bounded concurrency, on a worker thread
with its own event loop: a notebook's kernel already runs a loop in the cell's thread, and the cell's own
thread stays free to send the live view (at a bounded rate for the whole grid) and to take Ctrl-C, which
cancels every running cell (each ends `interrupted`). Every answer is its own history row; the rows of one
grid share a `group_id`.
"""
from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any, Iterable, List, Optional, Sequence

from .. import _errors as E
from ._ask import Ask
from ._params import BY_NAME, GRID, grid
from ._result import Result

CONCURRENCY = 8
GRID_RATE = 8.0  # most live updates a second for a whole grid (bench/frontend.py: the browser's cost)
SUMMARY = ("text", "completion_tokens", "reasoning_tokens", "ttft", "tokens_per_second", "cost_usd", "finish_reason", "status")


def label_of(params: dict) -> str:
    """A column's header: the values that vary, as a cell writes them."""
    shown = []
    for name, value in params.items():
        if name == "model":
            shown.insert(0, str(value))
        elif name == "sample":
            shown.append(f"sample {value + 1}")
        else:
            p = BY_NAME[name]
            text = f"{value:g}" if isinstance(value, float) else str(value)
            shown.append(f"{p.flags[0]} {text if len(text) <= 24 else text[:23] + '…'}")
    return " · ".join(shown) or "answer"


def cells_of(base: Ask, values: dict, samples: Optional[int] = None, front: str = "python") -> List[tuple]:
    """[(the cell's varying values, its Ask)]: the product of `values` (GRID name -> list) times `samples`
    answers each (seeds from --seed, else 1, counting up), every Ask a variant of `base`."""
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise E.ParameterError(f"{'-n' if front == 'magic' else 'n'} must be an integer ≥ 1 (got {samples!r})")
    if samples and samples > 1 and len(values.get("seed") or ()) > 1:
        raise E.ParameterError(f"use a list of seeds or {'-n' if front == 'magic' else 'n='} samples, not both")
    for name, items in values.items():
        twice = sorted({repr(v) for v in items if items.count(v) > 1})
        if twice:
            shown = BY_NAME[name].shown_as(front)
            raise E.ParameterError(f"{shown} lists {', '.join(twice)} more than once: the grid would send the same "
                                   f"request twice (for repeated samples use {'-n' if front == 'magic' else 'n='})")
    out = []
    for cell in grid(values, front, samples):
        fixed = {n: v[0] for n, v in values.items() if len(v) == 1}
        params = {**fixed, **cell}
        if samples and samples > 1:
            first = params.get("seed") if params.get("seed") is not None else 1
            for k in range(samples):
                out.append(({**cell, "sample": k}, base.replace(params={**params, "seed": first + k}, source="compare")))
        else:
            out.append((cell, base.replace(params=params, source="compare")))
    return out


def run_cells(session, asks: Sequence[Ask], *, observers: Sequence[Iterable] = (), concurrency: int = CONCURRENCY,
              tick=None, interval: float = 0.05, group_id: Optional[str] = None,
              cell_id: Optional[str] = None) -> List[Result]:
    """Run every Ask at once (at most `concurrency` in flight) and return their Results in order; a failed
    one is a Result with status "error", and Ctrl-C leaves them "interrupted". Blocks the calling thread,
    calling `tick()` every `interval` s."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise E.ParameterError(f"concurrency must be an integer ≥ 1 (got {concurrency!r})")
    group_id = group_id or uuid.uuid4().hex[:12]
    results: List[Optional[Result]] = [None] * len(asks)
    loop = asyncio.new_event_loop()
    tasks: list = []
    failure: list = []

    async def one(i: int, ask: Ask, gate: asyncio.Semaphore) -> None:
        async with gate:
            r = results[i] = Result(group_id=group_id)
            await session.arun(ask, observers=list(observers[i]) if observers else [], errors="return", result=r,
                               cell_id=cell_id)

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)
        tasks.extend(asyncio.ensure_future(one(i, a, gate)) for i, a in enumerate(asks))
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for client in list(session._async_clients.get(loop, {}).values()):
                await client.aclose()

    def work() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # a bug: said in the cell's thread
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=work, daemon=True, name="cerebras-grid")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(interval)
            if tick is not None:
                tick()
    except KeyboardInterrupt:  # Ctrl-C: every cell stops at once and keeps its partial text, as one cell does
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
        thread.join()
    if failure:
        raise failure[0]
    for i, r in enumerate(results):  # cancelled before it was sent: no call, no row
        if r is None:
            results[i] = Result(group_id=group_id, prompt=asks[i].prompt_text, model=asks[i].get("model") or "")
            results[i].finish("interrupted", "not sent")
    return results  # type: ignore[return-value]


class Comparison:
    """The answers of one grid: `.frame` (one row per answer), `.results`, a side-by-side view
    (`_repr_html_`), `.agreement()`. Made by `cm.compare`, a comma-list cell, or from Results
    (`Comparison([r, r.fork(...)])`)."""

    def __init__(self, results: Sequence[Result], cells: Optional[Sequence[dict]] = None,
                 labels: Optional[Sequence[str]] = None, prompt: Optional[str] = None, fmt: str = "markdown"):
        self.results = list(results)
        self.cells = list(cells) if cells is not None else [{"model": r.model} for r in self.results]
        self.labels = list(labels) if labels is not None else [label_of(c) for c in self.cells]
        self.prompt = prompt if prompt is not None else (self.results[0].prompt if self.results else "")
        self.group_id = next((r.group_id for r in self.results if r.group_id), None)
        self.fmt = fmt

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i) -> Result:
        return self.results[i]

    def __iter__(self):
        return iter(self.results)

    @property
    def texts(self) -> List[str]:
        return [r.text for r in self.results]

    @property
    def axes(self) -> List[str]:
        return [k for k in dict.fromkeys(k for c in self.cells for k in c)]

    def rows(self) -> List[dict]:
        out = []
        for cell, r in zip(self.cells, self.results):
            row = {"model": r.model, **{k: v for k, v in cell.items() if k != "model"}}
            row.update(text=r.text, completion_tokens=r.completion_tokens, reasoning_tokens=r.reasoning_tokens,
                       ttft=r.ttft, tokens_per_second=r.tokens_per_second, cost_usd=r.cost_usd, finish_reason=r.finish_reason,
                       status=r.status, error=r.error, id=r.id, group_id=r.group_id)
            out.append(row)
        return out

    @property
    def frame(self):
        """One row per answer: the parameters that vary, text, tokens, TTFT, tok/s, cost, finish, status."""
        import pandas as pd
        return pd.DataFrame(self.rows())

    def agreement(self) -> dict:
        """How much the answers agree: distinct texts, mean pairwise word similarity, shared first words."""
        from ..display._diverge import agreement
        return agreement([r.text for r in self.results if r.status != "error" and r.text.strip()])

    def bundle(self, fmt: Optional[str] = None) -> dict:
        from ..display._grid import final_bundle
        columns = [c for c in (*dict.fromkeys(["model", *self.axes]), *SUMMARY, "error") if
                   any(row.get(c) is not None for row in self.rows())]
        title = f"{len(self.results)} answers"
        return final_bundle(self.labels, self.results, self.rows(), columns, fmt or self.fmt, title=title)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.bundle()

    def _repr_html_(self) -> str:
        return self.bundle()["text/html"]

    def __repr__(self) -> str:
        from ..display._diverge import agreement_line
        ok = sum(r.status == "ok" for r in self.results)
        line = agreement_line([r.text for r in self.results if r.status != "error"])
        return f"<Comparison {len(self.results)} answers ({ok} ok){' · ' + line if line else ''}>"


def compare(prompt: Any, models: Optional[Sequence[str]] = None, temperature: Any = None, n: Optional[int] = None,
            *, session=None, endpoint: str = "chat", concurrency: int = CONCURRENCY, show: bool = True,
            rate: float = 15.0, **params) -> Comparison:
    """Send one prompt to several models and/or parameter values at once, or n times with seeds:
    `cm.compare("Explain a B-tree", models=["gpt-oss-120b", "llama-3.3-70b"], temperature=[0, 0.7])`.

    Any of model(s), system, temperature, top_p, max_tokens, seed may be a list (the grid is their product,
    at most 16 answers); other parameters apply to every cell. In a notebook the answers stream side by side
    (show=False: quietly); the Comparison shows the final grid, its summary and where the answers differ."""
    from ._session import default_session
    session = session or default_session()
    if models is not None:
        if "model" in params:
            raise E.ParameterError("give models=[...] or model=..., not both")
        if isinstance(models, str) and "," in models:
            raise E.ParameterError(f"models={models!r} is one string: give a list, "
                                   f"models={[m.strip() for m in models.split(',') if m.strip()]!r}")
        params["model"] = list(models) if isinstance(models, (list, tuple)) else models
    if temperature is not None:
        params["temperature"] = temperature
    values, fixed = {}, {}
    for name, value in params.items():
        if name in GRID:
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if not items:
                raise E.ParameterError(f"{name}=[] is empty: give at least one value")
            values[name] = [BY_NAME[name].check(v, "python") for v in items]
        else:
            fixed[name] = value
    base = Ask.from_kwargs(prompt, endpoint=endpoint, source="compare", **fixed)
    if base.conversation:
        raise E.ParameterError("a grid cannot continue a conversation (every answer would extend it): drop chat=")
    cells = cells_of(base, values, n, "python")
    return run_grid(session, cells, show=show, rate=rate, concurrency=concurrency)


def run_grid(session, cells: List[tuple], *, show: bool = True, rate: float = 15.0, concurrency: int = CONCURRENCY,
             fmt: str = "markdown", cell_id: Optional[str] = None) -> Comparison:
    """Run the cells of a grid with a live side-by-side view (when `show`), and return their Comparison."""
    from ..display._grid import GridView
    labels = [label_of(c) for c, _ in cells]
    view = GridView(labels, rate=min(rate, GRID_RATE), stream=show)
    view.open()
    try:
        results = run_cells(session, [a for _, a in cells], observers=[[view.column(i)] for i in range(len(cells))],
                            concurrency=concurrency, tick=view.tick, cell_id=cell_id)
    finally:
        view.close()
    return Comparison(results, [c for c, _ in cells], labels, fmt=fmt)
