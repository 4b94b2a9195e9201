"""`cerebras_magic.ray.batch`: `cm.batch` over a `ray.data.Dataset`, for when one process is not enough
(millions of rows, data already in a cluster). Needs the `[ray]` extra: pip install "cerebras-magic[ray]".

Ray Data does the distributing (`map_batches` on a pool of actors); there is no scheduler of ours across
processes. Each actor runs the very engine `cm.batch` runs (core/_batch_engine.py), with its share of the
rate limit (every bucket, learnt from the headers or set with rpm=/tpm=, is divided by the number of
workers) and of `concurrency`, and keeps its limiter between batches. The request is resolved once, on the
driver, so a bad parameter or placeholder is one line before any worker starts; workers get it as plain
JSON (the Ask's history form), never the notebook's objects. The API key travels as a `_Secret`, whose
repr is `<secret>`, so it does not show in Ray's task listings or logs. Rows keep their input columns and
gain the result columns (`parsed` holds dicts); history rows go to the driver's history file (fine on one
machine; on a cluster give `history_path=` a path each node can write, or None).
"""
from __future__ import annotations

import os
from typing import Optional

from . import _errors as E
from .core._batch import OPTIONS, template_ask
from .core._batch_out import COLUMNS
from .core._batch_rows import Rows

RAY_OPTIONS = ("workers", "batch_size", "num_cpus", "history_path", *OPTIONS)
_UNSET = object()


class _Secret:
    """A value that is never shown (the API key on its way to the workers)."""
    __slots__ = ("value",)

    def __init__(self, value: Optional[str]):
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    def __getstate__(self):
        return self.value

    def __setstate__(self, value):
        self.value = value


def batch(dataset, template: str, *, workers: int = 2, concurrency: int = 32, rpm: Optional[float] = None,
          tpm: Optional[float] = None, name: Optional[str] = None, retry_errors: bool = False, schema=None,
          batch_size: int = 256, num_cpus: float = 0.25, history_path=_UNSET, session=None, **params):
    """`template` over every row of `dataset` -> a Dataset: the input's columns, then text (or parsed),
    status, error, finish_reason, prompt_tokens, completion_tokens, ttft, latency, cost_usd, history_id.

    `workers` actors each send at most concurrency / workers requests at once, within 1/workers of the rate
    limit; `name=` makes it resumable as with cm.batch. Lazy, as Ray Data is: nothing is sent until the
    Dataset is consumed (`.take_all()`, `.write_parquet(...)`, `.to_pandas()`)."""
    try:
        import ray.data
    except ImportError:
        raise E.ParameterError('cerebras_magic.ray needs Ray Data: pip install "cerebras-magic[ray]"') from None
    from .core import default_session
    for label, value in (("workers", workers), ("batch_size", batch_size), ("concurrency", concurrency)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise E.ParameterError(f"{label} must be an integer ≥ 1 (got {value!r})")
    if not isinstance(dataset, ray.data.Dataset):
        raise E.ParameterError(f"cerebras_magic.ray.batch takes a ray.data.Dataset, not a {type(dataset).__name__} "
                               "(cm.batch takes DataFrames and iterables)")
    session = session or default_session()
    ask = template_ask(template, schema, params, RAY_OPTIONS)
    ask = ask.replace(stream=False) if ask.stream is None else ask
    columns = [str(c) for c in dataset.columns()]
    import pandas as pd
    shape = Rows(pd.DataFrame(columns=columns))
    shape.total = None  # a Dataset's length is unknown until it runs: a template filling nothing is refused
    shape.check(ask.prompt)  # the placeholders, against the columns, before any worker starts
    base = session.prepare(ask)
    answer = "parsed" if (base.schema is not None or base.json) else "text"
    clash = [c for c in (answer, *COLUMNS) if c in columns]
    if clash:
        raise E.ParameterError(f"the dataset already has a column {clash[0]!r}, which the batch adds; rename it "
                               f"first, e.g. dataset.rename_columns({{{clash[0]!r}: 'input_{clash[0]}'}})")
    client = session.client(base.backend)
    if history_path is _UNSET:
        history_path = session.history.path
    options = {"base_url": client.base_url, "backend": base.backend, "timeout": session.options["timeout"],
               "max_retries": session.options["max_retries"],
               "api_key": _Secret(session.options["api_key"] or os.environ.get("CEREBRAS_API_KEY")),
               "history_path": None if history_path is None else str(history_path)}
    work = {"request": base.to_dict(), "template": ask.prompt, "client": options, "share": 1.0 / workers,
            "concurrency": max(1, concurrency // workers), "rpm": rpm, "tpm": tpm, "name": name,
            "retry_errors": bool(retry_errors)}
    return dataset.map_batches(_Worker, batch_format="pandas", batch_size=batch_size, num_cpus=num_cpus,
                               compute=ray.data.ActorPoolStrategy(size=workers), fn_constructor_kwargs=work)


class _Worker:
    """One Ray actor: a Session of its own, the batch engine, and its share of the limits."""

    def __init__(self, request: dict, template: str, client: dict, share: float, concurrency: int, rpm, tpm,
                 name, retry_errors: bool):
        from .core import Ask, Session
        from .core._limits import Limiter
        client = dict(client)
        key, path = client.pop("api_key").value, client.pop("history_path")
        self.session = Session(history_path=path, api_key=key, **client)
        self.ask = Ask.from_dict(request, source="batch").replace(prompt=template)
        self.limiter = Limiter(rpm=rpm, tpm=tpm, share=share)
        self.concurrency, self.name, self.retry_errors = concurrency, name, retry_errors

    def __call__(self, frame):
        import pandas as pd

        from .core._batch import run
        out = run(self.session, frame, self.ask, concurrency=self.concurrency, name=self.name,
                  retry_errors=self.retry_errors, progress=False, limiter=self.limiter)
        out.index = frame.index
        return pd.concat([frame, out], axis=1)
