"""What went wrong with the history file, in one line, and where the calls went instead.

The store can fail in four ways that are the user's machine, not a bug: another process holds the write
lock, the file or its directory is read-only, the disk is full, or the file is not a SQLite database. Each
is named from SQLite's error (its code where Python gives it, 3.11+, else its message), so the line says
the cause in words and what was done about it, with the path, and never with a traceback.

The line is a `HistoryWarning`, so `warnings.filterwarnings("ignore", category=HistoryWarning)` silences
it, `"error"` turns it into an exception and pytest/`catch_warnings` capture it. Shown by Python's own
`showwarning` (a notebook's case) it would carry a `file.py:123: HistoryWarning:` prefix and the source
line; while our warning is issued, `warnings.formatwarning` (which only that display, and logging's
captureWarnings, call) is swapped for one that gives the message alone, unless someone installed their
own. Recorders (pytest.warns, catch_warnings(record=True)) get the warning object itself, untouched.
"""
from __future__ import annotations

import errno
import os
import pathlib
import re
import threading
import time
import warnings
from typing import Tuple

from .._errors import redact

PREFIX = "cerebras_magic history: "


class HistoryWarning(UserWarning):
    """The history file could not be used (or can be again); says where this session's calls are."""


def diagnose(exc: BaseException) -> Tuple[str, str]:
    """(kind, cause): kind is locked | readonly | full | io | corrupt | error; cause is the error in words."""
    code = str(getattr(exc, "sqlite_errorname", "") or "")
    text = redact(str(exc), os.environ.get("CEREBRAS_API_KEY"))
    cause = re.sub(r"^\[Errno \d+\] ", "", " ".join(text.split())) or type(exc).__name__
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:  # mkdir met a regular file
        cause = redact(f"{exc.filename} is a file, not a directory", os.environ.get("CEREBRAS_API_KEY"))
    if isinstance(exc, OSError):  # from mkdir: its text holds a path, so it is not searched for words
        return ("full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "readonly"), cause
    low = cause.lower()  # an SQLite message (never a path)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in low:
        return "locked", cause
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in low or "malformed" in low:
        return "corrupt", cause
    if code.startswith("SQLITE_FULL") or "disk is full" in low:
        return "full", cause
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or "readonly" in low \
            or "unable to open" in low:
        return "readonly", cause
    if code.startswith("SQLITE_IOERR") or "i/o error" in low:
        return "io", cause
    return "error", f"{type(exc).__name__}: {cause}"


def problem(kind: str, path, cause: str) -> str:
    """The one line for a store that stopped working (every kind but corrupt, see `moved`)."""
    kept = "calls are kept in memory and written"
    later = "(on a later call, History.flush() or at exit)"
    if kind == "locked":
        return f"{path} is locked by another process ({cause}); {kept} when it is free {later}"
    if kind == "readonly":
        return f"cannot write {path} ({cause}); {kept} if it becomes writable {later}"
    if kind == "full":
        return f"no space left to write {path} ({cause}); {kept} when there is {later}"
    if kind == "io":
        return (f"cannot write {path} ({cause}: a full disk, a file-size limit or a failing device); "
                f"{kept} when it works again {later}")
    return f"cannot use {path} ({cause}); {kept} when it works again {later}"


def moved(corrupt, cause: str, new, error: str = "") -> str:
    """The one line for a corrupt file: it is never written again; where the calls go now."""
    where = (f"this session's calls go to {new}" if not error else
             f"{new} could not be used either ({error}): calls are kept in memory and written there when it can be")
    return f"{corrupt} is not a usable SQLite database ({cause}); it is left untouched and {where}"


def back(path, count: int) -> str:
    return f"{path} works again: {count} held row{'s' if count != 1 else ''} written"


def recovered_path(path: pathlib.Path) -> pathlib.Path:
    """Where a store goes when `path` is corrupt: the newest `<stem>.recovered-<time><suffix>` beside it
    (so the kernels of one machine share it, and a new session finds the last one's rows), else a new one."""
    pattern = f"{path.stem}.recovered-*{path.suffix}"
    try:
        found = sorted(p for p in path.parent.glob(pattern) if p.is_file())
    except OSError:
        found = []
    if found:
        return found[-1]
    return path.with_name(f"{path.stem}.recovered-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")


def fresh_recovered_path(path: pathlib.Path) -> pathlib.Path:
    """A recovered-store name that does not exist yet (the newest one was itself unusable)."""
    stamp = time.strftime('%Y%m%d-%H%M%S')
    return path.with_name(f"{path.stem}.recovered-{stamp}-{os.getpid()}{path.suffix}")


_STOCK_FORMAT = getattr(warnings, "_formatwarning_orig", warnings.formatwarning)
_swap_lock = threading.Lock()


def _one_line(message, category, filename, lineno, line=None) -> str:
    if isinstance(category, type) and issubclass(category, HistoryWarning):
        return f"{message}\n"
    return _STOCK_FORMAT(message, category, filename, lineno, line)  # another thread's, issued meanwhile


def notify(text: str) -> None:
    """Issue one HistoryWarning line (every time: the caller decides when a problem is new)."""
    # the key cannot be in a path or an SQLite message, but the line is redacted like every other
    message = HistoryWarning(redact(" ".join((PREFIX + text).split()), os.environ.get("CEREBRAS_API_KEY")))
    with _swap_lock:
        plain = warnings.formatwarning is _STOCK_FORMAT
        if plain:
            warnings.formatwarning = _one_line
        try:
            # registry=None: not "once per source line" (the default filter), since one line issues them all
            warnings.warn_explicit(message, HistoryWarning, __file__, 0, module="cerebras_magic.core._store",
                                   registry=None)
        finally:
            if plain and warnings.formatwarning is _one_line:
                warnings.formatwarning = _STOCK_FORMAT
