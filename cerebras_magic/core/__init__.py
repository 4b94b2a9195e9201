"""The request path's core: what a request is, how a session sends it, what comes back, where it is kept.

    _params.py    the one list of request parameters (flags, panel fields, limits) and the flag escapes
    _template.py  filling {name} in a prompt (cells and batch rows alike)
    _ask.py       Ask: one request, to the wire, to a cell, to and from a history row
    _session.py   Session (clients, defaults, conversations, history) and run(), the one request path
    _result.py    Result: a response folded into what is shown and kept
    _toolspec.py  Tool: a Python function's JSON schema (pydantic) and its checked call
    _steps.py     ToolStep: a tool call and what became of it, on the wire and in a row
    _tools.py     the tool loop: run/arun calls on one conversation
    _compare.py   grids: one prompt, many models / values / samples at once (cm.compare, comma-list cells)
    _fork.py      an answer continued from another token (Result.fork)
    _batch.py     cm.batch: one template over many rows (_batch_rows, _batch_engine, _batch_out, _limits)
    _store.py     History: one SQLite row per call, as it finishes
    _functions.py the package's functions (cm.chat, cm.history, ...) on the default session

Names load lazily, so the magic can read the parameter list at `%load_ext` without importing the rest.
"""
from __future__ import annotations

from .._lazy import loader

_LAZY = {"Ask": "_ask", "Result": "_result", "Cancel": "_session", "Cancelled": "_session",
         "Conversation": "_session", "Session": "_session", "default_session": "_session",
         "set_default_session": "_session", "Tool": "_toolspec", "ToolStep": "_steps", "run_tools": "_tools",
         "arun_tools": "_tools", "Comparison": "_compare", "compare": "_compare", "fork": "_fork",
         "batch": "_batch", "BatchRun": "_batch"}
__all__ = sorted(_LAZY)
__getattr__ = loader(__name__, _LAZY)
