"""History: every call as one row, kept in memory and committed to SQLite as it happens.

Why SQLite in WAL mode with synchronous=NORMAL: a commit is in the OS before `append` returns, so a kernel
killed with SIGKILL loses nothing, several kernels can append to one file at once (busy timeout), and an
append stays well under a millisecond. Disk is touched lazily: constructing a History costs nothing.

Unknown keys (fields added by later issues) become real columns: the table is widened with
`ALTER TABLE ... ADD COLUMN` the first time a key is seen, so `to_dataframe()` shows them like any other.
Keys are lower-cased (SQLite column names ignore case) and any key named like an API key or an
authorization header is dropped, as defence in depth. pandas is imported only inside `to_dataframe()`,
to keep `%load_ext cerebras_magic` cheap.

A broken store never costs the user the answer. A failed write keeps its row in memory (`rows()`,
`to_dataframe(all_sessions=True)`), says why in one HistoryWarning line per problem (_store_faults.py), and
the held rows go in, in order and once, with the next write that works (one line says so). Another
process's lock is waited for BUSY_TIMEOUT_S only: kernels hold it for microseconds, and a cell must not
freeze for SQLite's usual 5 s over its history. While a problem lasts appends retry at most every
RETRY_AFTER_S, so a batch does not pay the wait per row; `flush()` retries now, and exit flushes too. A
corrupt file is never written or deleted: calls go to `<stem>.recovered-<time>.sqlite` beside it.
"""
from __future__ import annotations

import atexit
import json
import os
import pathlib
import re
import sqlite3
import threading
import time
import uuid
import weakref
from typing import Any, Dict, List, Optional, Union

from . import _store_faults as faults
from ._store_faults import HistoryWarning  # noqa: F401  (public: the warning users filter)
from ._store_frame import frame, records as _records
from ._store_sql import quote as _quote, setup, table_columns as _table_columns

TABLE = "history"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 0.25       # how long the user's call waits for another process's write lock
RETRY_AFTER_S = 2.0         # while the store fails, appends retry it at most this often
EXIT_BUSY_TIMEOUT_S = 5.0   # the flush at exit may wait longer: no cell is waiting for it

# Known columns, in Result.to_row() order, with their SQLite types; session_id comes last.
COLUMNS: Dict[str, str] = {
    "id": "TEXT", "started_at": "TEXT", "source": "TEXT", "endpoint": "TEXT", "backend": "TEXT",
    "model": "TEXT", "prompt": "TEXT", "system": "TEXT", "messages": "TEXT", "params": "TEXT",
    "response": "TEXT", "reasoning": "TEXT", "tool_calls": "TEXT", "finish_reason": "TEXT",
    "status": "TEXT", "error": "TEXT",
    "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER", "cached_tokens": "INTEGER",
    "reasoning_tokens": "INTEGER", "total_tokens": "INTEGER", "cost_usd": "REAL", "model_source": "TEXT",
    "queue_time": "REAL", "prompt_time": "REAL", "completion_time": "REAL", "total_time": "REAL",
    "ttft": "REAL", "duration": "REAL", "tokens_per_second": "REAL", "rate_basis": "TEXT", "raw_tokens": "TEXT",
    "ratelimit_remaining_requests": "INTEGER", "ratelimit_remaining_tokens": "INTEGER",
    "logprobs": "TEXT", "cell_id": "TEXT", "request": "TEXT", "replay_of": "TEXT", "session_id": "TEXT",
}

# what a resumed batch reads back of its finished rows (batch, batch_key and batch_row are a batch row's tags)
BATCH_COLUMNS = ("id", "status", "error", "response", "finish_reason", "prompt_tokens", "completion_tokens", "ttft",
                 "duration", "cost_usd", "batch_key")

_SECRET_KEY = re.compile(r"api[_-]?key|authori[sz]ation", re.IGNORECASE)
_PLAIN_TYPES = (str, int, float, bytes, type(None))
_DEFAULT = object()  # "use default_path()", distinct from an explicit None (memory only)


def default_path() -> Optional[pathlib.Path]:
    """$CEREBRAS_MAGIC_HISTORY if set ("none" or "" = memory only), else ~/.cerebras_magic/history.sqlite."""
    value = os.environ.get("CEREBRAS_MAGIC_HISTORY")
    if value is None:
        return pathlib.Path.home() / ".cerebras_magic" / "history.sqlite"
    if value.strip().lower() in ("", "none"):
        return None
    return pathlib.Path(value).expanduser()


def _plain(value: Any) -> Any:
    """A value SQLite can bind: plain values as they are, containers as JSON text, anything else as str."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


class History:
    """This session's calls (in memory) backed by a shared SQLite store (all sessions, all kernels)."""

    def __init__(self, path: Union[str, os.PathLike, None] = _DEFAULT, session_id: Optional[str] = None, *,
                 busy_timeout: float = BUSY_TIMEOUT_S, retry_after: float = RETRY_AFTER_S):
        if path is _DEFAULT:
            path = default_path()
        self.path: Optional[pathlib.Path] = None if path is None else pathlib.Path(path).expanduser()
        self.session_id: str = session_id or uuid.uuid4().hex
        self._rows: List[dict] = []
        self._unsaved: List[dict] = []      # appended but not yet committed (store unavailable)
        self._columns: frozenset = frozenset()  # the table's columns, as this connection last saw them
        self._conn: Optional[sqlite3.Connection] = None
        self._conn_pid: Optional[int] = None
        self.busy_timeout, self.retry_after = float(busy_timeout), float(retry_after)
        self._problem: Optional[str] = None  # the kind of the store's current problem, said once
        self._retry_at = 0.0                 # time.monotonic() before which appends do not retry
        self._corrupt: Optional[pathlib.Path] = None  # the user's file, once found corrupt (path moved on)
        self._at_exit = False
        self._batch_index = False            # the index a resumed batch looks its rows up by, once made
        self._lock = threading.RLock()

    # -- public ------------------------------------------------------------------------------------
    def append(self, row: dict) -> None:
        """Keep one call's row and commit it (with any held rows) before returning; if the store fails, the
        row is held in memory (one warning line) and written by a later append, flush() or at exit."""
        clean = {}
        for key, value in row.items():
            key = str(key).lower()  # SQLite column names ignore case: "Foo" and "foo" are one column
            if key and not _SECRET_KEY.search(key):
                clean[key] = _plain(value)
        clean["session_id"] = self.session_id
        with self._lock:
            self._rows.append(clean)
            if self.path is None:
                return
            self._unsaved.append(clean)
            if self._problem is None or time.monotonic() >= self._retry_at:
                self._save(fresh=1)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Write the rows held since the store failed, now (waiting up to `timeout` s, default busy_timeout,
        for another process's lock). True when no row is held any more."""
        with self._lock:
            if self.path is not None and self._unsaved:
                self._save(timeout=timeout)
            return not self._unsaved

    @property
    def unsaved(self) -> int:
        """How many of this session's rows are held in memory, not yet in the store."""
        return len(self._unsaved)

    def rows(self) -> List[dict]:
        """This session's rows, oldest first (copies: editing them changes nothing)."""
        with self._lock:
            return [dict(r) for r in self._rows]

    def find(self, row_id: str) -> Optional[dict]:
        """The row with this id: this session's first, then the durable store (other sessions' rows)."""
        with self._lock:
            for row in reversed(self._rows):
                if row.get("id") == row_id:
                    return dict(row)
            if self.path is None:
                return None
            try:
                if not self.path.exists():
                    return None
                cursor = self._connect().execute(f"SELECT * FROM {TABLE} WHERE id = ? ORDER BY rowid DESC LIMIT 1",
                                                 (row_id,))
                found = cursor.fetchone()
                return None if found is None else dict(zip([d[0] for d in cursor.description], found))
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)
                return None

    def batch_results(self, name: str, keys) -> Dict[str, dict]:
        """The finished rows (ok or error) of the batch called `name` among `keys` (request hashes), one per
        key: an ok row wins over an error, a later row over an earlier. A resumed batch asks this for each
        window of its input, so it is one indexed query; this session's rows not in the store (memory only,
        or held while it fails) count too. A store that cannot be read gives {}: those rows are sent again,
        the safe side."""
        keys = list(dict.fromkeys(keys))
        found: Dict[str, dict] = {}

        def keep(row: dict) -> None:
            old = found.get(row.get("batch_key"))
            if old is None or row.get("status") == "ok" or old.get("status") != "ok":
                found[row["batch_key"]] = row

        with self._lock:
            if self.path is not None and self.path.exists():
                try:
                    for row in self._batch_query(name, keys):
                        keep(row)
                except (sqlite3.Error, OSError) as exc:
                    self._failed(exc)
            wanted = set(keys)
            for row in (self._rows if self.path is None else self._unsaved):
                if row.get("batch") == name and row.get("batch_key") in wanted and row.get("status") in ("ok", "error"):
                    keep(dict(row))
        return found

    def _batch_query(self, name: str, keys: List[str]):
        conn = self._connect()
        columns = _table_columns(conn, TABLE)
        if not {"batch", "batch_key"} <= columns:
            return  # no batch row was ever written here
        if not self._batch_index:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_batch_key ON {TABLE} (batch_key)")
            self._batch_index = True
        wanted = [c for c in BATCH_COLUMNS if c in columns]
        for start in range(0, len(keys), 500):  # under SQLite's limit on bound variables
            part = keys[start:start + 500]
            cursor = conn.execute(f"SELECT {', '.join(_quote(c) for c in wanted)} FROM {TABLE} WHERE batch_key IN "
                                  f"({', '.join('?' * len(part))}) AND batch = ? AND status IN ('ok', 'error') "
                                  f"ORDER BY rowid", (*part, name))
            for found in cursor:
                yield dict(zip(wanted, found))

    def release(self, ids) -> None:
        """Forget these rows from this session's memory once the store holds them: a batch of a million rows
        keeps them on disk only (`to_dataframe(all_sessions=True)` still has them). Rows of a memory-only
        history, or held because the store fails, stay."""
        ids = set(ids)
        with self._lock:
            if self.path is None or not ids:
                return
            held = {id(r) for r in self._unsaved}
            self._rows = [r for r in self._rows if r.get("id") not in ids or id(r) in held]

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        """Forget this session's in-memory rows; the store keeps them."""
        with self._lock:
            self._rows.clear()

    def close(self) -> None:
        """Close the SQLite connection (it reopens on the next append or read)."""
        with self._lock:
            self._drop_connection()

    def to_dataframe(self, *, all_sessions: bool = False, n: Optional[int] = None):
        """Rows as a DataFrame, oldest first, index a plain RangeIndex (`id` stays a column).

        Columns: the known ones in Result.to_row() order, then session_id, then any extra keys.
        `started_at` is datetime64 UTC; token and rate-limit counts are Int64, times float64 (missing: NA/NaN).
        `all_sessions=True` reads every row in the store (this session's memory rows if path is None).
        `n` keeps the last n rows.
        """
        if n is not None and n <= 0:
            return frame(list(COLUMNS), [], COLUMNS)
        if all_sessions and self.path is not None:
            return frame(*self._read_store(n), COLUMNS)
        with self._lock:
            rows = self._rows[-n:] if n else list(self._rows)
        names = list(COLUMNS) + _new_keys(rows, COLUMNS)
        return frame(names, _records(rows, names), COLUMNS)

    # -- storage -----------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """The connection, opened (and the file, directory and table created) on first use in this process."""
        if self._conn is not None and self._conn_pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used by the child
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout= is SQLite's busy timeout: other kernels' writes are waited for, not reported as "locked".
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            setup(conn, TABLE, COLUMNS, SCHEMA_VERSION, self.busy_timeout)
            self._columns = _table_columns(conn, TABLE)
        except BaseException:
            conn.close()
            raise
        self._conn, self._conn_pid = conn, os.getpid()
        return conn

    def _save(self, fresh: int = 0, timeout: Optional[float] = None) -> None:
        """Commit the unsaved rows (the last `fresh` of them just appended); on failure keep them and say why."""
        try:
            self._write(self._unsaved, timeout)
        except Exception as exc:  # a history problem must never break the user's call
            self._failed(exc)
            return
        held = len(self._unsaved) - fresh
        self._unsaved.clear()
        if self._problem is not None:
            self._problem = None
            if held > 0:
                faults.notify(faults.back(self.path, held))

    def _write(self, rows: List[dict], timeout: Optional[float] = None) -> None:
        conn = self._connect()
        if timeout is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        try:
            for key in _new_keys(rows, self._columns):
                self._add_column(conn, key)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    names = ", ".join(_quote(k) for k in row)
                    marks = ", ".join("?" * len(row))
                    conn.execute(f"INSERT INTO {TABLE} ({names}) VALUES ({marks})", tuple(row.values()))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if timeout is not None:  # an explicit flush's longer wait must not outlive it
                self._drop_connection()

    def _failed(self, exc: BaseException) -> None:
        """The store failed: drop the connection, hold the rows, say so once per problem (kind)."""
        self._drop_connection()
        kind, cause = faults.diagnose(exc)
        self._retry_at = time.monotonic() + self.retry_after
        if not self._at_exit:
            self._at_exit = True
            atexit.register(_flush_at_exit, weakref.ref(self))
        if kind == "corrupt" and self._corrupt is None:
            self._move_from_corrupt(cause)
        elif kind != self._problem:
            self._problem = kind
            faults.notify(faults.problem(kind, self.path, cause))

    def _move_from_corrupt(self, cause: str) -> None:
        """Leave the corrupt file as it is; carry on in a recovered store beside it (or in memory)."""
        self._corrupt = corrupt = self.path
        error = ""
        for candidate in (faults.recovered_path(corrupt), faults.fresh_recovered_path(corrupt)):
            self.path = candidate
            try:
                self._write(self._unsaved)
                self._unsaved.clear()
                self._problem = None
                break
            except Exception as exc:
                self._drop_connection()
                kind, error = faults.diagnose(exc)
                self._problem = kind
                if kind != "corrupt":
                    break
        faults.notify(faults.moved(corrupt, cause, self.path, error))

    def _add_column(self, conn: sqlite3.Connection, key: str) -> None:
        """Widen the table for a new key; another process may have just done it, which is fine."""
        try:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_quote(key)}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc).lower():
                raise
        self._columns = _table_columns(conn, TABLE)

    def _read_store(self, n: Optional[int]):
        """(column names, row tuples) of every stored row, with one query, plus this session's unsaved rows."""
        with self._lock:
            if self._unsaved and time.monotonic() >= self._retry_at:
                self._save()
            unsaved, names, records = list(self._unsaved), list(COLUMNS), []
            try:
                if self.path.exists():
                    last = f" WHERE rowid IN (SELECT rowid FROM {TABLE} ORDER BY rowid DESC LIMIT {int(n)})" if n else ""
                    cursor = self._connect().execute(f"SELECT * FROM {TABLE}{last} ORDER BY rowid")
                    records = cursor.fetchall()
                    names = [d[0] for d in cursor.description]
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)
                unsaved = list(self._rows)  # the store is unreadable: this session is all we have
        if unsaved:
            added = _new_keys(unsaved, names)
            if added:
                pad = (None,) * len(added)
                records = [r + pad for r in records]
                names += added
            records += _records(unsaved, names)
            if n:
                records = records[-n:]
        return names, records

    def _drop_connection(self) -> None:
        if self._conn is not None:
            if self._conn_pid == os.getpid():
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
            self._conn = None

    def __repr__(self) -> str:
        return f"<History session={self.session_id[:8]} rows={len(self._rows)} path={self.path}>"


def _new_keys(rows: List[dict], known) -> List[str]:
    """Keys of `rows` not in `known`, in order of first appearance."""
    known = set(known)
    seen: Dict[str, None] = {}
    for row in rows:
        if row.keys() - known:
            seen.update((k, None) for k in row if k not in known and k not in seen)
    return list(seen)


def _flush_at_exit(ref) -> None:
    history = ref()
    if history is not None and history._unsaved:
        try:
            history.flush(EXIT_BUSY_TIMEOUT_S)
        except Exception:  # at exit there is no one to tell but the line flush() already printed
            pass

