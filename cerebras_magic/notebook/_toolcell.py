"""`%%cerebras --tools f,g [--max-steps N] [--approve] [--tool-choice ...]`: a cell's tool loop.

The cell's Ask (ask_from, as any cell's) gets the notebook's functions by name, then goes through the
tool loop (core/_tools.py), a sequence of `Session.run` calls; the cell shows each step as it happens and
streams the answer (display/_tools.py). Every bad name or option is one line naming what was typed.
"""
from __future__ import annotations

from IPython.core.error import UsageError

from .. import _errors as E


def tool_cell(magics, args, prompt: str):
    """Run the cell's tool loop; returns the final Result (every step in `.tool_calls`), as a cell does."""
    from ..core._tools import run_tools, with_tools
    from ..display._tools import ToolCellRenderer
    names = [n.strip() for n in (args.tools or "").split(",") if n.strip()]
    if args.tools is not None and not names:
        raise UsageError("--tools: name the notebook's functions, e.g. --tools get_weather,convert")
    grid = getattr(magics, "_values", None)
    if (grid is not None and any(len(v) > 1 for v in _values(grid, args).values())) or (getattr(args, "n", 0) or 0) > 1:
        raise UsageError("--tools cannot be used with a grid (-m A,B, -t 0,1, -n N ...): give one value each")
    if getattr(args, "panel", False):
        raise UsageError("--tools cannot be used with --panel: the playground has a Tools field of its own "
                         "(%cerebras playground)")
    ask = magics.ask_from(args, prompt)
    try:
        ask = ask.replace(tools=tuple(names), max_steps=args.max_steps, approve=True if args.approve else None)
        ask = with_tools(ask, magics.shell.user_ns)
        ask.check()
    except E.ParameterError as exc:
        raise UsageError(str(exc)) from None
    if args.dry_run:
        return magics._dry_run(ask)
    fmt = args.format or ("json" if (args.json or args.schema) else magics.format)
    stream = magics.stream if ask.stream is None else ask.stream
    renderer = ToolCellRenderer(fmt=fmt, rate=magics.update_rate, stream=stream)
    try:
        result = run_tools(magics.session, ask, observers=[renderer], errors="return", cell_id=magics._cell_id())
    except E.ParameterError as exc:  # --approve where nothing can answer a prompt
        raise UsageError(str(exc)) from None
    result.display_format = fmt
    return magics._shown(result, renderer, args.out)


def _values(grid, args) -> dict:
    try:
        return grid(args)
    except E.ParameterError as exc:
        raise UsageError(str(exc)) from None
