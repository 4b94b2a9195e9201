"""`%%cerebras --over VAR`: the cell's prompt as a batch template over a variable's rows (core/_batch.py).

The cell's flags build the Ask exactly as for any cell (`ask_from`), except that `{name}` is filled from
each row, not from the notebook: the template goes to the batch unfilled. `-o VAR` keeps the DataFrame
(or, with --background, the handle); without it the DataFrame is the cell's value (with --to, nothing: the
rows are in the file). --no-interpolate is refused: the rows fill the template.
"""
from __future__ import annotations

import copy

from IPython.core.error import UsageError

from .. import _errors as E

BATCH_FLAGS = ("over", "name", "concurrency", "rpm", "tpm", "to", "retry_errors", "background")


def batch_cell(magics, args, prompt: str):
    if not args.over:
        used = next(f for f in BATCH_FLAGS if getattr(args, f) not in (None, False))
        raise UsageError(f"--{used.replace('_', '-')} works with --over VAR (a batch over a variable's rows)")
    ns = magics.shell.user_ns
    if args.over not in ns:
        raise UsageError(f"--over {args.over}: no variable named {args.over!r} in the notebook")
    for flag, on in (("--chat", args.chat), ("--new", args.new), ("--panel", getattr(args, "panel", False)),
                     ("--tools", getattr(args, "tools", None)), ("-n", (getattr(args, "n", None) or 0) > 1)):
        if on:
            raise UsageError(f"--over sends each row on its own; it does not combine with {flag}")
    if getattr(args, "no_interpolate", False):
        raise UsageError("--over fills {column} (or {}) from each row; it does not combine with --no-interpolate "
                         "(write {{ and }} for literal braces)")
    try:
        grid = [name for name, values in magics._values(args).items() if len(values) > 1] \
            if hasattr(magics, "_values") else []
    except E.ParameterError as exc:
        raise UsageError(str(exc)) from None
    if grid:
        raise UsageError(f"--over takes one value per flag (a comma list makes a grid); run one batch per value of "
                         f"{grid[0]}")
    unfilled = copy.copy(args)
    unfilled.no_interpolate = True  # {column} comes from each row
    ask = magics.ask_from(unfilled, prompt)
    from ..core._batch import run
    from ..core._batch_rows import Rows, filler
    data = ns[args.over]
    try:
        if args.dry_run:  # the first row's request, as a cell's --dry-run shows it
            rows = Rows(data)
            rows.check(ask.prompt)
            first = next(iter(rows), None)
            if first is None:
                raise E.ParameterError(f"--over {args.over}: it has no rows")
            from IPython.display import display
            of = f"{rows.total:,}" if rows.total is not None else "a length not known before reading"
            display({"text/plain": f"--over {args.over}: row 1 of {of} (the first row's request)"}, raw=True)
            return magics._dry_run(ask.replace(prompt=filler(ask.prompt)(first[2]),
                                               stream=False if ask.stream is None else ask.stream))
        out = run(magics.session, data, ask, concurrency=32 if args.concurrency is None else args.concurrency,
                  name=args.name, to=args.to, rpm=args.rpm, tpm=args.tpm, retry_errors=args.retry_errors,
                  background=args.background)
    except E.ParameterError as exc:
        raise UsageError(str(exc)) from None
    except E.CerebrasError as exc:  # before anything was sent (no key, the model list): its one line
        raise exc.with_traceback(None) from None
    if args.out:
        ns[args.out] = out
        return None
    if args.to and not args.background:  # the rows are in the file, not kept: the summary above says the rest
        return None
    return out
