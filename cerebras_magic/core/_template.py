"""Filling `{name}` in a prompt from a namespace: the rule every front end uses (cells, batch rows).

`{name}`, `{name.attr}` and `{name[key]}` (chained: `{row.items[0].title}`) are filled when `name` is in the
namespace; `{{` and `}}` are literal braces. Any other brace text (JSON, code, set literals, `{x+1}`,
`{:>10}`) is left exactly as written, so a prompt can hold a JSON example without escaping. A `{name}` that
looks like a variable but is not defined is an error naming it, because it is almost always a typo or a
cell that was not run.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from .. import _errors as E

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*|\[[^\[\]{}]*\])*)\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[([^\[\]{}]*)\]")
_MISSING = object()


def fields(template: str) -> list:
    """The names a template would fill, in order (for checking placeholders before anything is sent)."""
    return [m.group(1) for m in _FIELD.finditer(template) if m.group(1)]


def interpolate(template: str, namespace: Mapping, *, hint: Optional[str] = None) -> str:
    """`template` with its fields filled from `namespace`; ParameterError names the first that is not.

    `hint` ends that message (the magic says how to write literal braces or turn filling off)."""
    tail = f"; {hint}" if hint else ""

    def fill(m: re.Match) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name, path = m.group(1), m.group(2)
        value = namespace.get(name, _MISSING) if hasattr(namespace, "get") else _MISSING
        if value is _MISSING:
            raise E.ParameterError(f"{{{name}{path}}} in the prompt: {name!r} is not defined{tail}")
        for step in _STEP.finditer(path):
            attr, key = step.group(1), step.group(2)
            try:
                value = getattr(value, attr) if attr is not None else value[_key(key)]
            except (AttributeError, LookupError, TypeError) as exc:
                what = f"has no attribute {attr!r}" if attr is not None else f"has no item [{key}]"
                raise E.ParameterError(f"{{{name}{path}}} in the prompt: {name}{path[:step.start()]} {what} "
                                       f"({type(exc).__name__}){tail}") from None
        return str(value)

    return _FIELD.sub(fill, template)


def _key(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text
