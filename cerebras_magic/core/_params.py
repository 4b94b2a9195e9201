"""The one list of request parameters a user can set, and the one escape table for flag values.

Every front end reads this list: the magic builds its flags from it, the panel its fields (the JavaScript
gets it as a trait), `Ask` maps it to the wire and back to a cell, and every bad value is said in one line
naming what the user typed: the flag in a cell, the field in the panel, the argument in Python.
Limits come from _wire.py, so they are the API's own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import _errors as E
from .. import _wire as wire

# how a flag value spells what a cell's first line cannot hold; the panel's stop list uses the same table
ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\"}
_UNESCAPE = re.compile(r"\\[ntr\\]")
_ESCAPE = {v: k for k, v in ESCAPES.items()}


def unescape(text: str) -> str:
    """`\\n`, `\\t`, `\\r` and `\\\\` in a flag value -> newline, tab, carriage return, backslash."""
    return _UNESCAPE.sub(lambda m: ESCAPES[m.group()], text)


def escape(text: str) -> str:
    """The inverse of `unescape`: a value as it is written on a %%cerebras line."""
    return "".join(_ESCAPE.get(ch, ch) for ch in text)


@dataclass(frozen=True)
class Param:
    """One request parameter as every front end knows it."""

    name: str                              # the Ask key and the Python argument
    flags: tuple                           # the %%cerebras flags, the long one last
    kind: str                              # float | int | str | bool | choice | list
    help: str
    label: str                             # the panel's name for it
    lo: Optional[float] = None
    hi: Optional[float] = None
    choices: tuple = ()
    endpoints: tuple = wire.ENDPOINTS
    wire_names: dict = field(default_factory=dict)   # endpoint -> field on the wire (default: name)
    escaped: bool = False                  # the flag value decodes \n \t \r \\
    max_items: Optional[int] = None
    panel: bool = True

    @property
    def flag(self) -> str:
        return self.flags[-1]

    def wire_name(self, endpoint: str) -> str:
        return self.wire_names.get(endpoint, self.name)

    def rule(self) -> str:
        """What is allowed, in words."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "list":
            return f"at most {self.max_items} strings"
        noun = "an integer" if self.kind == "int" else "a number" if self.kind == "float" else f"a {self.kind}"
        if self.lo is not None and self.hi is not None:
            return f"{noun} from {self.lo:g} to {self.hi:g}"
        if self.lo is not None:
            return f"{noun} ≥ {self.lo:g}"
        return noun

    def shown_as(self, front: str) -> str:
        """How the user typed it: `--max-tokens` in a cell, the `Max tokens` field, `max_tokens=` in Python."""
        if front == "magic":
            return "/".join(self.flags)
        if front == "widget":
            return f"the {self.label} field"
        if front == "config":
            return f"%config Cerebras.{self.name}"
        return self.name

    def check(self, value: Any, front: str = "python") -> Any:
        """The value as the API wants it, or ParameterError naming what the user typed."""
        if value is None:
            return None
        bad = E.ParameterError(f"{self.shown_as(front)} must be {self.rule()} (got {_short(value)})")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.kind in ("str", "choice"):
            if not isinstance(value, str) or (self.kind == "choice" and value not in self.choices):
                raise bad
            return value
        if self.kind == "list":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items) \
                    or len(items) > self.max_items:
                raise bad
            return list(items)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if self.kind == "int":
            if value != int(value):
                raise bad
            value = int(value)
        else:
            value = float(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise bad
        return value


def _short(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_CHAT, _COMPLETION = ("chat",), ("completion",)
TOOL_CHOICES = wire.TOOL_CHOICES   # --tool-choice takes these or a tool's name (Ask maps a name to the wire)
PARAMS: tuple = (
    Param("model", ("-m", "--model"), "str", "Model id (%cerebras models lists them).", "Model"),
    Param("system", ("-s", "--system"), "str", "System prompt; \\n means a newline.", "System prompt",
          endpoints=_CHAT, escaped=True),
    Param("temperature", ("-t", "--temperature"), "float", "Sampling temperature.", "Temperature",
          *wire.RANGES["temperature"]),
    Param("top_p", ("--top-p",), "float", "Nucleus sampling.", "Top-p", *wire.RANGES["top_p"]),
    Param("max_tokens", ("--max-tokens",), "int", "Most tokens to generate.", "Max tokens", 1,
          wire_names={"chat": "max_completion_tokens"}),
    Param("min_tokens", ("--min-tokens",), "int", "Fewest tokens to generate (0: the model decides, "
          "-1: the whole sequence).", "Min tokens", -1, wire_names={"chat": "min_completion_tokens"}),
    Param("seed", ("--seed",), "int", "Seed for reproducible sampling.", "Seed"),
    Param("stop", ("--stop",), "list", f"Stop string (\\n means a newline); repeat for up to {wire.MAX_STOP}.",
          "Stop", escaped=True, max_items=wire.MAX_STOP),
    Param("logprobs", ("--logprobs",), "int", "Token probabilities with the top K alternatives (K default 5).",
          "Top K", *wire.RANGES["top_logprobs"]),
    Param("reasoning_effort", ("--reasoning-effort",), "choice", "How hard a reasoning model thinks.",
          "Reasoning effort", choices=wire.REASONING_EFFORTS, endpoints=_CHAT, panel=False),
    Param("reasoning_format", ("--reasoning-format",), "choice", "Where a reasoning model's thinking goes.",
          "Reasoning format", choices=wire.REASONING_FORMATS, endpoints=_CHAT, panel=False),
    Param("clear_thinking", ("--clear-thinking",), "bool", "GLM: leave earlier turns' reasoning out of the "
          "context.", "Clear thinking", endpoints=_CHAT, panel=False),
    Param("tool_choice", ("--tool-choice",), "str", "With --tools: auto, required, none or a tool's name.",
          "Tool choice", endpoints=_CHAT, panel=False),
    Param("user", ("--user",), "str", "End-user id sent to the API.", "User", panel=False),
    Param("echo", ("--echo",), "bool", "Completion: include the prompt in the answer.", "Echo",
          endpoints=_COMPLETION, panel=False),
    Param("raw_tokens", ("--raw-tokens",), "bool", "Completion: return the token ids too.", "Raw tokens",
          endpoints=_COMPLETION, wire_names={"completion": "return_raw_tokens"}, panel=False),
    Param("grammar_root", ("--grammar-root",), "choice", "Completion: the grammar's root rule.", "Grammar root",
          choices=wire.GRAMMAR_ROOTS, endpoints=_COMPLETION, panel=False),
)
BY_NAME = {p.name: p for p in PARAMS}
# Python spellings of the wire names that mean one of our params (cm.chat(max_completion_tokens=20))
ALIASES = {"max_completion_tokens": "max_tokens", "min_completion_tokens": "min_tokens",
           "return_raw_tokens": "raw_tokens"}


# -- grids: a comma list on one of these flags (or a list in `cm.compare`) makes one request per value ----
GRID = ("model", "system", "temperature", "top_p", "max_tokens", "seed")
MAX_CELLS = 16


def split_values(p: Param, text: str) -> list:
    """A flag value as its comma list (`-t 0,0.7` -> ["0", "0.7"]). In `-s` a comma followed by a space (or
    at the end) belongs to the text, and `\\,` is a literal comma; other escapes stay for `unescape`."""
    if p.kind != "str" or not p.escaped:
        if p.name not in GRID:
            return [text]
        parts = [part.strip() for part in text.split(",")]
        if len(parts) > 1 and not all(parts):
            raise E.ParameterError(f"{p.shown_as('magic')} {text!r} has an empty item: write the values separated by "
                                   f"commas, e.g. {p.shown_as('magic')} {','.join(x for x in parts if x) or 'A,B'}")
        return parts
    items, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append("," if text[i + 1] == "," else text[i:i + 2])
            i += 2
            continue
        if ch == "," and i + 1 < len(text) and not text[i + 1].isspace():
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    return items + ["".join(cur)]


def parse_value(p: Param, text: str, front: str = "magic"):
    """One flag value typed as text -> the parameter's value, checked (the line names the flag)."""
    if p.kind in ("int", "float"):
        try:
            number = float(text) if p.kind == "float" else int(text)
        except ValueError:
            raise E.ParameterError(f"{p.shown_as(front)} must be {p.rule()} (got {_short(text)})") from None
        return p.check(number, front)
    return p.check(unescape(text) if p.escaped else text, front)


def grid(values: dict, front: str = "magic", samples: Optional[int] = None) -> list:
    """The cells of a grid: `values` maps GRID names to their lists; the product of the lists that have
    more than one value, each cell a {name: value} dict, times `samples` (n answers each). At most
    MAX_CELLS answers, else one line saying how many were asked for."""
    names = [n for n in GRID if len(values.get(n) or ()) > 1]
    sizes = [len(values[n]) for n in names] + ([samples] if samples and samples > 1 else [])
    total = 1
    for size in sizes:
        total *= size
    if total > MAX_CELLS:
        said = [f"{BY_NAME[n].shown_as(front)} {len(values[n])} values" for n in names]
        if samples and samples > 1:
            said.append(f"{'-n' if front == 'magic' else 'n='} {samples} samples")
        raise E.ParameterError(f"a grid of {' x '.join(said)} is {total} answers; at most {MAX_CELLS} at once")
    cells = [{}]
    for name in names:
        cells = [{**cell, name: value} for cell in cells for value in values[name]]
    return cells


def spec_for_js() -> dict:
    """The list and the escape table as the panel's JavaScript receives them (one source for both)."""
    return {"params": [{"name": p.name, "label": p.label, "kind": p.kind, "lo": p.lo, "hi": p.hi,
                        "choices": list(p.choices), "endpoints": list(p.endpoints), "max_items": p.max_items}
                       for p in PARAMS if p.panel],
            "escapes": ESCAPES}
