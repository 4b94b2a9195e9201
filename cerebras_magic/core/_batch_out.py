"""What a batch gives back: one record per row (kept for the DataFrame and/or appended to a file as rows
finish), the running counts behind the progress bar, and the summary.

Records are kept column by column at the row's position, so the DataFrame comes out in input order
whatever order calls finish in, aligned with the input's index. With `keep=False` nothing is kept: a
million rows go to the file in batches of FLUSH_ROWS (or every FLUSH_S seconds) and memory stays flat.
"""
from __future__ import annotations

import json
import pathlib
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import _errors as E

COLUMNS = ("status", "error", "finish_reason", "prompt_tokens", "completion_tokens", "ttft", "latency", "cost_usd",
           "history_id")
INTS, FLOATS = ("prompt_tokens", "completion_tokens"), ("ttft", "latency", "cost_usd")
FORMATS = (".parquet", ".jsonl")
FLUSH_ROWS, FLUSH_S = 1000, 2.0


@dataclass
class Stats:
    """Running counts, written by the engine's thread and read by the progress view (plain ints: safe)."""
    label: str = "batch"
    total: Optional[int] = None
    named: bool = False
    done: int = 0
    ok: int = 0
    error: int = 0
    interrupted: int = 0
    not_sent: int = 0
    resumed: int = 0
    resumed_errors: int = 0
    sent: int = 0                         # calls made (rows not from history)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Optional[float] = None
    rate_limited: int = 0
    waiting: Optional[str] = None         # the bucket the scheduler waits for, now
    stopped: bool = False
    finished: bool = False
    started: float = field(default_factory=time.perf_counter)
    ended: Optional[float] = None

    def count(self, rec: dict, resumed: bool = False) -> None:
        status = rec["status"]
        if status == "not_sent":  # counted at the end, with the rows never read
            return
        self.done += 1
        if status == "ok":
            self.ok += 1
        elif status == "interrupted":
            self.interrupted += 1
        else:
            self.error += 1
        if resumed:
            self.resumed += 1
            self.resumed_errors += status != "ok"
            return
        self.sent += 1
        self.prompt_tokens += rec.get("prompt_tokens") or 0
        self.completion_tokens += rec.get("completion_tokens") or 0
        if rec.get("cost_usd") is not None:
            self.cost_usd = (self.cost_usd or 0.0) + rec["cost_usd"]

    @property
    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def rps(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tps(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> Optional[float]:
        """Seconds left at the rate so far (None: unknown total, or nothing sent yet)."""
        left = None if self.total is None else self.total - self.done
        rate = (self.done - self.resumed) / self.elapsed if self.elapsed > 0 else 0.0
        return None if left is None or rate <= 0 or self.finished else left / rate

    def snapshot(self) -> "Stats":
        """A copy that stays still while the batch goes on (what `handle.progress` gives)."""
        copy = Stats(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        copy.ended = self.ended or time.perf_counter()
        return copy

    def figures(self) -> dict:
        """The summary as numbers (a batch's DataFrame keeps them in `.attrs["batch"]`)."""
        keys = ("label", "total", "done", "ok", "error", "interrupted", "not_sent", "resumed", "sent", "prompt_tokens",
                "completion_tokens", "cost_usd", "rate_limited", "stopped")
        return {**{k: getattr(self, k) for k in keys}, "seconds": self.elapsed, "requests_per_second": self.rps,
                "tokens_per_second": self.tps}

    def __repr__(self) -> str:
        from ..display._progress import progress_line
        return f"<batch progress: {progress_line(self)}>"


class Collector:
    """The records of the rows, column by column at each row's position (when kept)."""

    def __init__(self, answer: str, keep: bool, total: Optional[int]):
        self.answer, self.keep = answer, keep          # answer: "text", or "parsed" with a schema
        self.names = (answer, *COLUMNS)
        n = total if keep and total is not None else 0
        self.cols = {c: [None] * n for c in self.names}
        if n:
            self.cols["status"] = ["not_sent"] * n

    def reserve(self, pos: int) -> None:
        """A row was read (a generator's length is known only as it is read)."""
        if not self.keep:
            return
        while len(self.cols["status"]) <= pos:
            for c in self.names:
                self.cols[c].append("not_sent" if c == "status" else None)

    def put(self, pos: int, rec: dict) -> None:
        if self.keep:
            for c in self.names:
                self.cols[c][pos] = rec.get(c)

    def frame(self, index=None):
        import pandas as pd
        n = len(self.cols["status"])
        data = {}
        for c in self.names:
            values = self.cols[c]
            data[c] = (pd.array(values, dtype="Int64") if c in INTS else
                       pd.array([float("nan") if v is None else v for v in values], dtype="float64") if c in FLOATS
                       else pd.array(values, dtype=object))
        return pd.DataFrame(data, index=index if index is not None and len(index) == n else pd.RangeIndex(n))


def check_target(to) -> Optional[pathlib.Path]:
    """The file to write rows to, checked before anything is sent (its format, its library, its folder)."""
    if to is None:
        return None
    path = pathlib.Path(to).expanduser()
    if path.suffix not in FORMATS:
        raise E.ParameterError(f"to={str(to)!r}: write rows to a {' or '.join(FORMATS)} file")
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise E.ParameterError(f"to={str(to)!r} needs pyarrow: pip install pyarrow "
                                   "(or write to a .jsonl file)") from None
    if not path.parent.is_dir():
        raise E.ParameterError(f"to={str(to)!r}: the folder {str(path.parent)!r} does not exist")
    return path


class Sink:
    """Rows appended to a file as they finish, in batches: Parquet row groups or JSON lines. The file is
    written afresh by each run (a resumed one writes the rows it found in the history again)."""

    def __init__(self, path: pathlib.Path, answer: str, index_kind: str):
        self.path, self.answer, self.index_kind = path, answer, index_kind
        self.rows: list = []
        self.last = time.monotonic()
        self._writer = None
        self._file = open(path, "w", encoding="utf-8") if path.suffix == ".jsonl" else None
        if self._file is None:
            import pyarrow as pa
            kinds = {"row": pa.int64(), "index": pa.int64() if index_kind == "int" else pa.string(), answer: pa.string(),
                     **{c: pa.int64() if c in INTS else pa.float64() if c in FLOATS else pa.string() for c in COLUMNS}}
            self.schema = pa.schema(list(kinds.items()))

    def add(self, pos: int, label: Any, rec: dict) -> None:
        row = {"row": pos, "index": label if self.index_kind == "int" else str(label)}
        for c in (self.answer, *COLUMNS):
            value = rec.get(c)
            if c == "parsed" and value is not None:
                value = value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value, default=str)
            row[c] = value
        self.rows.append(row)
        if len(self.rows) >= FLUSH_ROWS or time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        if self._file is not None:
            self._file.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))
            self._file.flush()
            return
        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.Table.from_pylist(rows, schema=self.schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self.path), self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
        elif self._writer is not None:
            self._writer.close()
        else:  # no row at all: still a valid, empty file
            import pyarrow.parquet as pq
            pq.write_table(self.schema.empty_table(), str(self.path))
