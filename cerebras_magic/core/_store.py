"""History: every call as one row, kept in memory and committed to SQLite as it happens.

Why SQLite in WAL mode with synchronous=NORMAL: a commit is in the OS before `append` returns, so a kernel
killed with SIGKILL loses nothing, several kernels can append to one file at once (busy timeout), and an
append stays well under a millisecond. Disk is touched lazily: constructing a History costs nothing.

Unknown keys (fields added by later issues) become real columns: the table is widened with
`ALTER TABLE ... ADD COLUMN` the first time a key is seen, so `to_dataframe()` shows them like any other.
Keys are lower-cased (SQLite column names ignore case) and any key named like an API key or an
authorization header is dropped, as defence in depth. pandas is imported only inside `to_dataframe()`,
to keep `%load_ext cerebras_magic` cheap.
"""
from __future__ import annotations

import json
import operator
import os
import pathlib
import random
import re
import sqlite3
import threading
import time
import uuid
import warnings
from typing import Any, Dict, List, Optional, Union

TABLE = "history"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0

# Known columns, in Result.to_row() order, with their SQLite types; session_id comes last.
COLUMNS: Dict[str, str] = {
    "id": "TEXT", "started_at": "TEXT", "source": "TEXT", "endpoint": "TEXT", "backend": "TEXT",
    "model": "TEXT", "prompt": "TEXT", "system": "TEXT", "messages": "TEXT", "params": "TEXT",
    "response": "TEXT", "reasoning": "TEXT", "tool_calls": "TEXT", "finish_reason": "TEXT",
    "status": "TEXT", "error": "TEXT",
    "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER", "total_tokens": "INTEGER",
    "queue_time": "REAL", "prompt_time": "REAL", "completion_time": "REAL", "total_time": "REAL",
    "ttft": "REAL", "duration": "REAL", "tokens_per_second": "REAL",
    "ratelimit_remaining_requests": "INTEGER", "ratelimit_remaining_tokens": "INTEGER",
    "logprobs": "TEXT", "cell_id": "TEXT", "request": "TEXT", "replay_of": "TEXT", "session_id": "TEXT",
}
NUMERIC_COLUMNS = frozenset(name for name, kind in COLUMNS.items() if kind in ("INTEGER", "REAL"))

_SECRET_KEY = re.compile(r"api[_-]?key|authori[sz]ation", re.IGNORECASE)
_PLAIN_TYPES = (str, int, float, bytes, type(None))
_DEFAULT = object()  # "use default_path()", distinct from an explicit None (memory only)


class HistoryWarning(UserWarning):
    """The history file could not be used; rows are kept in memory instead."""


def default_path() -> Optional[pathlib.Path]:
    """$CEREBRAS_MAGIC_HISTORY if set ("none" or "" = memory only), else ~/.cerebras_magic/history.sqlite."""
    value = os.environ.get("CEREBRAS_MAGIC_HISTORY")
    if value is None:
        return pathlib.Path.home() / ".cerebras_magic" / "history.sqlite"
    if value.strip().lower() in ("", "none"):
        return None
    return pathlib.Path(value).expanduser()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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

    def __init__(self, path: Union[str, os.PathLike, None] = _DEFAULT, session_id: Optional[str] = None):
        if path is _DEFAULT:
            path = default_path()
        self.path: Optional[pathlib.Path] = None if path is None else pathlib.Path(path).expanduser()
        self.session_id: str = session_id or uuid.uuid4().hex
        self._rows: List[dict] = []
        self._unsaved: List[dict] = []      # appended but not yet committed (store unavailable)
        self._columns: frozenset = frozenset()  # the table's columns, as this connection last saw them
        self._conn: Optional[sqlite3.Connection] = None
        self._conn_pid: Optional[int] = None
        self._warned = False
        self._lock = threading.RLock()

    # -- public ------------------------------------------------------------------------------------
    def append(self, row: dict) -> None:
        """Keep one call's row and commit it (with any earlier unsaved rows) before returning."""
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
            try:
                self._write(self._unsaved)
                self._unsaved.clear()
            except Exception as exc:  # a history problem must never break the user's call
                self._drop_connection()
                self._warn(exc)

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
            if self.path is None or not self.path.exists():
                return None
            try:
                cursor = self._connect().execute(f"SELECT * FROM {TABLE} WHERE id = ? ORDER BY rowid DESC LIMIT 1",
                                                 (row_id,))
                found = cursor.fetchone()
                return None if found is None else dict(zip([d[0] for d in cursor.description], found))
            except (sqlite3.Error, OSError) as exc:
                self._drop_connection()
                self._warn(exc)
                return None

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
            return _frame(list(COLUMNS), [])
        if all_sessions and self.path is not None:
            return _frame(*self._read_store(n))
        with self._lock:
            rows = self._rows[-n:] if n else list(self._rows)
        names = list(COLUMNS) + _new_keys(rows, COLUMNS)
        return _frame(names, _records(rows, names))

    # -- storage -----------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """The connection, opened (and the file, directory and table created) on first use in this process."""
        if self._conn is not None and self._conn_pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used by the child
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout= is SQLite's busy timeout: other kernels' writes are waited for, not reported as "locked".
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            _setup(conn)
            self._columns = _table_columns(conn)
        except BaseException:
            conn.close()
            raise
        self._conn, self._conn_pid = conn, os.getpid()
        return conn

    def _write(self, rows: List[dict]) -> None:
        conn = self._connect()
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

    def _add_column(self, conn: sqlite3.Connection, key: str) -> None:
        """Widen the table for a new key; another process may have just done it, which is fine."""
        try:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_quote(key)}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc).lower():
                raise
        self._columns = _table_columns(conn)

    def _read_store(self, n: Optional[int]):
        """(column names, row tuples) of every stored row, with one query, plus this session's unsaved rows."""
        with self._lock:
            unsaved, names, records = list(self._unsaved), list(COLUMNS), []
            if self.path.exists():
                try:
                    last = f" WHERE rowid IN (SELECT rowid FROM {TABLE} ORDER BY rowid DESC LIMIT {int(n)})" if n else ""
                    cursor = self._connect().execute(f"SELECT * FROM {TABLE}{last} ORDER BY rowid")
                    records = cursor.fetchall()
                    names = [d[0] for d in cursor.description]
                except (sqlite3.Error, OSError) as exc:
                    self._drop_connection()
                    self._warn(exc)
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

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"cerebras_magic history: cannot use {self.path} ({type(exc).__name__}: {exc}); "
                          f"keeping calls in memory only", HistoryWarning, stacklevel=3)

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


def _setup(conn: sqlite3.Connection) -> None:
    """WAL mode and the table. Several kernels may create the same file at once: switching to WAL takes an
    exclusive lock, and SQLite may answer "locked" there without waiting, so that step is retried briefly."""
    for attempt in range(100):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            columns = ", ".join(f"{_quote(name)} {kind}" for name, kind in COLUMNS.items())
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.02 + 0.03 * random.random())


def _table_columns(conn: sqlite3.Connection) -> frozenset:
    return frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})"))


def _records(rows: List[dict], names: List[str]) -> List[tuple]:
    """Rows as tuples in `names` order (None for a missing key)."""
    try:
        return list(map(operator.itemgetter(*names), rows))
    except KeyError:
        return [tuple(map(row.get, names)) for row in rows]


def _frame(names: List[str], records: List[tuple]):
    """Build the DataFrame column-wise from one 2-D object array and give the known columns their dtypes."""
    import numpy as np
    import pandas as pd

    table = np.empty((len(records), len(names)), dtype=object)
    if records:
        table[:] = records
    position = {name: i for i, name in enumerate(names)}
    ordered = list(COLUMNS) + [name for name in names if name not in COLUMNS]
    missing = np.full(len(records), None, dtype=object)
    data = {}
    for name in ordered:
        values = table[:, position[name]] if name in position else missing
        if name == "started_at":
            data[name] = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        elif name in NUMERIC_COLUMNS:
            try:
                floats = values.astype("float64")
            except (TypeError, ValueError):
                floats = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy("float64")
            # counts read as counts (25, not 25.0), still with a missing value where there is none
            data[name] = pd.array(floats, dtype="Int64") if COLUMNS[name] == "INTEGER" else floats
        else:
            data[name] = pd.Series(values, dtype=object, copy=False)
    return pd.DataFrame(data, columns=ordered, copy=False)
