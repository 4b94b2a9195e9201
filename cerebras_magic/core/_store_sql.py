"""SQLite specifics of the history store: quoting a column name, opening a file in WAL mode with its table."""
from __future__ import annotations

import random
import sqlite3
import time
from typing import Dict


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def setup(conn: sqlite3.Connection, table: str, columns: Dict[str, str], version: int, busy_timeout: float) -> None:
    """WAL mode and the table. Several kernels may create the same file at once: switching to WAL takes an
    exclusive lock, and SQLite may answer "locked" there without waiting, so that step is retried briefly.
    A "locked" that came after the busy handler's full wait is another process's lock: not retried."""
    for attempt in range(100):
        started = time.monotonic()
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            spec = ", ".join(f"{quote(name)} {kind}" for name, kind in columns.items())
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({spec})")
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                conn.execute(f"PRAGMA user_version = {int(version)}")
            return
        except sqlite3.OperationalError as exc:
            waited = time.monotonic() - started
            if "locked" not in str(exc) or attempt == 99 or waited > max(busy_timeout / 2, 0.05):
                raise
            time.sleep(0.02 + 0.03 * random.random())


def table_columns(conn: sqlite3.Connection, table: str = "history") -> frozenset:
    return frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
