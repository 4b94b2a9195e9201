"""`ToolStep`: one tool call the model made, and what became of it.

How the raw calls of a response and a tool loop's steps relate: they are the same objects. A Result folds
the calls of its own response (whole, or streamed in pieces by index) into ToolSteps with status "called";
the tool loop then runs them and fills in `result`, `error`, `duration` and `status` on those very objects.
So a single request's `r.tool_calls` lists its calls (not run), and the loop's final Result lists every
step of the loop, in order (`step.request` says which request's answer asked for it).

This module is also the one place that spells a step on the wire (the assistant turn's `tool_calls`, the
`tool` message with the result as text, an exception as one line) and in a history row (clipped past
HISTORY_CHARS characters, and said so).
"""
from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

HISTORY_CHARS = 4000   # a tool result or argument text longer than this is clipped in the history row
STATUSES = ("called", "running", "ok", "error", "refused", "not run", "interrupted")


@dataclass(eq=False)
class ToolStep:
    """A tool call: what the model asked for (`name`, `arguments`) and what came of it."""

    name: str = ""
    arguments: dict = field(default_factory=dict)   # parsed from raw_arguments ({} while they do not parse)
    result: Any = None                              # what the function returned
    error: Optional[str] = None                     # one line: the exception, the invalid arguments, a refusal
    duration: Optional[float] = None                # seconds the function ran
    status: str = "called"                          # one of STATUSES
    id: str = ""
    raw_arguments: str = ""                         # the arguments as the model wrote them (sent back as written)
    request: Optional[int] = None                   # the step number of the request whose answer made this call
    content: Optional[str] = None                   # the tool result as sent back to the model
    index: Optional[int] = field(default=None, repr=False)   # the call's place in its response (streams join on it)

    def add(self, name: Optional[str], arguments: Optional[str], call_id: Optional[str]) -> None:
        """Fold one piece of a (possibly split) streamed call."""
        if call_id and not self.id:
            self.id = call_id
        if name and not self.name:
            self.name = name
        if arguments:
            self.raw_arguments += arguments
            self.arguments = parse_arguments(self.raw_arguments) or {}

    @property
    def parsed(self) -> bool:
        """Whether the raw arguments are a JSON object (a model can write broken JSON)."""
        return parse_arguments(self.raw_arguments or "{}") is not None

    def ensure_id(self) -> str:
        if not self.id:  # some servers send no id: one is needed to pair the call with its result
            self.id = f"call_{uuid.uuid4().hex[:24]}"
        return self.id

    def wire(self) -> dict:
        """The call as the assistant turn of the next request carries it."""
        return {"id": self.ensure_id(), "type": "function",
                "function": {"name": self.name, "arguments": self.raw_arguments or "{}"}}

    def message(self) -> dict:
        """The `tool` message that sends this call's result (or error) back to the model."""
        return {"role": "tool", "tool_call_id": self.ensure_id(), "content": self.content or ""}

    @property
    def call_text(self) -> str:
        """`get_weather(city='Paris')`: the call in Python's spelling, for one-line views."""
        if not self.parsed:
            return f"{self.name}(<invalid arguments {self.raw_arguments!r}>)"
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.arguments.items())})"

    def to_dict(self) -> dict:
        return {"name": self.name, "arguments": self.arguments, "result": self.result, "error": self.error,
                "duration": self.duration, "status": self.status, "id": self.id, "request": self.request}

    def row_call(self) -> dict:
        """The call as its history row keeps it."""
        args = self.arguments if self.parsed else clip(self.raw_arguments)
        return {"id": self.id, "name": self.name, "arguments": args}

    def row_result(self) -> dict:
        """The result as the row of the request that sent it keeps it."""
        return {"tool_call_id": self.id, "name": self.name, "status": self.status,
                "content": clip(self.content or ""), "error": self.error,
                "duration": None if self.duration is None else round(self.duration, 6)}

    def __repr__(self) -> str:
        said = self.error if self.error else repr(self.result)
        said = said if len(said) <= 60 else said[:57] + "..."
        return f"<ToolStep {self.status} {self.call_text[:80]} -> {said}>"


def parse_arguments(raw: str) -> Optional[dict]:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def merge(steps: list, calls, request: Optional[int] = None) -> None:
    """Fold a response's (or a chunk's) raw tool calls into `steps`: a streamed piece joins the step with
    its `index`; a whole message's calls (no index) are each a new step."""
    for call in calls:
        fn, index = call.function, call.index
        found = next((s for s in steps if index is not None and s.index == index), None)
        if found is None:
            found = ToolStep(request=request, index=len(steps) if index is None else index)
            steps.append(found)
        found.add(fn.name if fn else None, fn.arguments if fn else None, call.id)


def clip(text: str, limit: int = HISTORY_CHARS) -> str:
    """`text`, or its first `limit` characters and a note of how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text):,} characters in all]"


def rows_json(items: list) -> Optional[str]:
    return json.dumps(items, ensure_ascii=False, default=str) if items else None


def content(value) -> str:
    """A function's return value as the text of the `tool` message: text as it is, else JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=_plain)
    except (TypeError, ValueError):
        return repr(value)


def _plain(value):
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "to_dict"):  # pandas objects
        try:
            return value.to_dict()
        except Exception:
            pass
    return str(value)


def error_line(exc: BaseException) -> str:
    """An exception as one line, no traceback: what the model is sent and the step shows."""
    first = (str(exc).strip().splitlines() or [""])[0]
    first = first if len(first) <= 300 else first[:299] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
