"""`cm.batch`: one prompt template over many rows, at the rate limit, resumable. See _batch_engine.py for
how rows are scheduled, _limits.py for the rate limits, _batch_out.py for what comes back.

Why a thread: a notebook's kernel already runs an event loop in the main thread, where `asyncio.run`
fails and nesting loops (nest_asyncio) breaks libraries. The batch gets its own thread with its own loop
(and, through `Session.client`, its own AsyncClient), started in a copy of the caller's context, so the
kernel's output routing follows it. The caller either waits (showing progress; Ctrl-C stops the batch and
returns the rows that finished) or, with `background=True`, gets the `BatchRun` handle at once.
"""
from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from typing import Optional

from .. import _errors as E
from .. import _wire as wire
from ._ask import Ask, schema_class, unknown_argument
from ._batch_engine import Engine
from ._batch_out import Collector, Sink, Stats, check_target
from ._batch_rows import Rows, filler
from ._limits import Limiter
from ._params import ALIASES, BY_NAME

OPTIONS = ("concurrency", "name", "schema", "to", "rpm", "tpm", "retry_errors", "background", "progress", "keep",
           "session")
_STRUCTURE = ("json", "stream", "backend", "extra_body", "endpoint")


class BatchRun:
    """A running batch: `.progress` (counts, rates, ETA), `.stop()`, `.result()` (the DataFrame)."""

    def __init__(self, engine: Engine, rows: Rows, view=None, background: bool = False):
        self.engine, self.rows, self.view, self.background = engine, rows, view, background
        self._done, self._ready = threading.Event(), threading.Event()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._error: Optional[BaseException] = None

    def start(self) -> "BatchRun":
        if self.view is not None:
            self.view.open()  # in the caller's cell, before it returns
        ctx = contextvars.copy_context()
        threading.Thread(target=ctx.run, args=(self._main,), daemon=True,
                         name=f"cerebras-batch-{self.engine.tag}").start()
        self._ready.wait()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            task = loop.create_task(self.engine.run())
            ticker = loop.create_task(self._tick()) if self.background and self.view is not None else None
            self._ready.set()
            loop.run_until_complete(task)
            if ticker is not None:
                ticker.cancel()
        except BaseException as exc:  # kept for result(), which raises it in the caller's thread
            self._error = exc
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())  # the local model's worker threads
            finally:
                loop.close()
            if self.background and self.view is not None:
                self._show_end()
            self._done.set()

    async def _tick(self) -> None:
        while True:
            self.view.update(self.engine.stats.snapshot())
            await asyncio.sleep(self.view.interval)

    def _show_end(self) -> None:
        try:
            self.view.close(self.progress, self.summary)
        except Exception:  # a display problem must not lose the batch
            pass

    # -- the handle ----------------------------------------------------------------------------
    @property
    def progress(self) -> Stats:
        """Counts so far (done, total, ok, error, ...), requests/s, tokens/s, ETA: a still copy."""
        return self.engine.stats.snapshot()

    @property
    def summary(self) -> str:
        from ..display._progress import summary_line
        return summary_line(self.engine.stats)

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Cancel the calls in flight and send no more; the rows that finished are kept."""
        loop = self._loop
        if loop is not None and not self._done.is_set():
            try:
                loop.call_soon_threadsafe(self.engine.stop)
            except RuntimeError:  # the loop closed meanwhile: it had finished
                pass

    def result(self, timeout: Optional[float] = None):
        """The DataFrame, once the batch has ended (waits up to `timeout` s; None: as long as it takes)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"batch {self.engine.stats.label!r} still running after {timeout} s "
                               f"({self.engine.stats.done:,} rows done); .stop() ends it")
        if self._error is not None:
            raise self._error
        frame = self.engine.collector.frame(self.rows.index)
        frame.attrs["batch"] = self.engine.stats.figures()
        return frame

    def __repr__(self) -> str:
        from ..display._progress import progress_line
        state = "done" if self.done() else "running"
        return f"<BatchRun {state}: {progress_line(self.engine.stats)}>"


def batch(data, template, *, concurrency: int = 32, name: Optional[str] = None, schema=None, to=None,
          rpm: Optional[float] = None, tpm: Optional[float] = None, retry_errors: bool = False,
          background: bool = False, progress: bool = True, keep: Optional[bool] = None, session=None, **params):
    """The same prompt over every row -> a DataFrame aligned with the input's index: `text` (or `parsed`
    with a schema), status, error, finish_reason, prompt_tokens, completion_tokens, ttft, latency, cost_usd,
    history_id. A failed row is a row; the batch never raises for one.

    `data`: a DataFrame (`{column}`), a Series or any iterable of values (`{}` is the value) or of dicts
    (`{key}`), a generator included. `name=` makes it resumable: run it again and only rows without a
    result are sent (`retry_errors=True` re-sends failed ones). `to="out.parquet"` (or .jsonl) appends rows
    as they finish; rows are then not kept in memory unless `keep=True`. `rpm=`/`tpm=` cap the rate for
    servers that send no rate-limit headers. `background=True` returns a BatchRun at once. Any other
    keyword is a request parameter (model, max_tokens, temperature, system, ...)."""
    from ._session import default_session
    for flag, value in (("background", background), ("progress", progress), ("retry_errors", retry_errors),
                        ("keep", keep), ("stream", params.get("stream"))):
        if value is not None and not isinstance(value, bool):
            raise E.ParameterError(f"batch: {flag}={value!r}; allowed: True or False")
    return run(session or default_session(), data, template_ask(template, schema, params), concurrency=concurrency,
               name=name, to=to, rpm=rpm, tpm=tpm, retry_errors=retry_errors, background=background,
               progress=progress, keep=keep)


def template_ask(template, schema, params: dict, options=OPTIONS) -> Ask:
    """The Ask of a batch's keyword arguments; a keyword that is neither an option, a parameter nor an API
    field is one line (a typo would otherwise be sent with every row, and fail every row)."""
    params = dict(params)
    endpoint = params.get("endpoint", "chat")
    unknown = [k for k in params if k not in _STRUCTURE and k != "endpoint" and ALIASES.get(k, k) not in BY_NAME
               and k != "top_logprobs" and k not in wire.KNOWN_FIELDS.get(endpoint, ())]
    if unknown:  # said before the Ask is built, so a misspelt batch option is suggested too
        raise E.ParameterError("batch: " + unknown_argument(unknown[0], endpoint, extra=tuple(options)))
    endpoint = params.pop("endpoint", "chat")
    if schema is not None:
        params["schema"] = schema
    return Ask.from_kwargs(template, endpoint=endpoint, source="python", **params)


def run(session, data, ask: Ask, *, concurrency: int = 32, name: Optional[str] = None, to=None, rpm=None, tpm=None,
        retry_errors: bool = False, background: bool = False, progress: bool = True, keep: Optional[bool] = None,
        limiter: Optional[Limiter] = None):
    """The batch of `ask` (its prompt is the template) over `data`: what `cm.batch`, the `%%cerebras --over`
    cell and each Ray worker call. Everything is checked before anything is sent."""
    engine, rows = plan(session, data, ask, concurrency=concurrency, name=name, to=to, rpm=rpm, tpm=tpm,
                        retry_errors=retry_errors, keep=keep, limiter=limiter)
    view = None
    if progress:
        from ..display._progress import ProgressView
        view = ProgressView(in_place=background)
    handle = BatchRun(engine, rows, view, background).start()
    if background:
        return handle
    try:
        while not handle.wait(0.05):
            if view is not None:
                view.update(handle.progress)
    except KeyboardInterrupt:  # Ctrl-C / a kernel interrupt: stop, and give back what finished
        handle.stop()
        handle.wait()
    if view is not None:
        view.close(handle.progress, handle.summary)
    return handle.result()


def plan(session, data, ask: Ask, *, concurrency, name, to, rpm, tpm, retry_errors, keep, limiter=None):
    """(the Engine, the Rows): every argument checked, the request resolved once for all rows."""
    front = ask.source
    said = (lambda flag, arg: flag if front == "magic" else arg)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise E.ParameterError(f"{said('--concurrency', 'concurrency')} must be an integer ≥ 1 (got {concurrency!r})")
    for flag, value in (("rpm", rpm), ("tpm", tpm)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise E.ParameterError(f"{said('--' + flag, flag)} must be a number > 0 (got {value!r})")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise E.ParameterError(f"{said('--name', 'name')} must be a non-empty string (got {name!r})")
    if ask.conversation or ask.messages:
        raise E.ParameterError(f"a batch sends each row on its own: drop {said('--chat/--new', 'chat=/messages=')}")
    if ask.tools:  # the tool loop is the cell's and cm.chat's; a batch row is one request, so tools never ran
        raise E.ParameterError(f"a batch sends each row on its own; it does not combine with {said('--tools', 'tools=')} "
                               "(run the tool loop per row with cm.chat(prompt, tools=[...]))")
    if ask.params.get("logprobs") is not None or ask.params.get("top_logprobs") is not None:
        raise E.ParameterError(f"a batch does not combine with {said('--logprobs', 'logprobs=')}: its rows keep the text "
                               "and figures, not token probabilities; ask the rows you want to inspect with "
                               + said("a %%cerebras --logprobs cell", "cm.chat(prompt, logprobs=K)"))
    if retry_errors and name is None:
        raise E.ParameterError(f"{said('--retry-errors', 'retry_errors=True')} re-sends the failed rows of a named "
                               f"batch found in the history: give {said('--name NAME', 'name=')} too")
    if not isinstance(ask.prompt, str):
        raise E.ParameterError(f"the batch template must be a str (got {type(ask.prompt).__name__})")
    if ask.stream is None:  # nobody watches a row's text arrive: whole answers cost half the client CPU
        ask = ask.replace(stream=False)
    rows = Rows(data)
    rows.check(ask.prompt)
    target = check_target(to)
    base = session.prepare(ask)
    session.catalog.public(session.client(base.backend))  # prices: read once here, not on the batch's loop
    answer = "parsed" if (base.schema is not None or base.json) else "text"
    keep = target is None if keep is None else bool(keep)
    index_kind = "int" if rows.index is None or rows.index.dtype.kind in "iu" else "str"
    stats = Stats(label=name or "batch", total=rows.total, named=name is not None)
    engine = Engine(session, base, rows, filler(ask.prompt), stats=stats,
                    collector=Collector(answer, keep, rows.total),
                    sink=Sink(target, answer, index_kind) if target is not None else None,
                    limiter=limiter or Limiter(rpm=rpm, tpm=tpm), concurrency=concurrency, name=name,
                    tag=name or f"batch-{uuid.uuid4().hex[:8]}", retry_errors=bool(retry_errors), answer=answer,
                    schema_cls=schema_class(base.schema) if base.schema is not None else None)
    return engine, rows
