"""`Ask`: one request, as every front end builds it and as the history keeps it.

A cell's flags, the panel's fields, `cm.chat`'s arguments, a history row (and a batch row or a grid cell)
all become an Ask. It is the one place that knows how a request is spelled everywhere else:

- on the wire (`wire()`): token limits per endpoint, the conversation with its system prompt, logprobs
  per endpoint, the schema as a response_format;
- as a `%%cerebras` cell that sends the same request (`to_cell()`);
- as plain JSON for the history (`to_dict()` / `from_dict()`), so any row can be sent again byte for byte.

Tools: `tools` holds functions (or Tools, or names a cell or the panel typed, or the wire schemas a history
row keeps); the wire gets their JSON schemas (core/_toolspec.py). `max_steps` and `approve` are the tool
loop's options (core/_tools.py): they shape the cell, never the request, so a history row does not keep them.

An Ask as built by a front end may leave things to the session (a parameter left None takes the session's
default; `conversation` names a chat to continue). `Session.prepare` resolves those and returns the Ask
that is actually sent: its `messages` are the turns before the prompt, system prompt applied.
"""
from __future__ import annotations

import dataclasses
import json as _json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .. import _errors as E
from .. import _wire as wire
from ._params import ALIASES, BY_NAME, PARAMS, TOOL_CHOICES, escape
from ._toolspec import check_tools, tool_name, tool_spec

FRONTS = ("magic", "widget", "python", "replay", "batch", "compare", "fork")


def unknown_argument(key: str, endpoint: str = "chat", extra: tuple = ()) -> str:
    """The line for a keyword argument that is neither ours nor a field of the endpoint's API."""
    import difflib
    known = [*extra, *BY_NAME, *ALIASES, *wire.KNOWN_FIELDS.get(endpoint, ())]
    close = difflib.get_close_matches(key, known, n=1)
    return (f"unknown argument {key}=" + (f"; did you mean {close[0]}=?" if close else "")
            + " (a field the API added that we do not know yet goes in extra_body={...})")


@dataclass(frozen=True)
class Ask:
    prompt: Any = ""                  # chat: the new user turn (text or content parts; None: no new turn);
    #                                   completion: the prompt (text, texts, or token ids)
    endpoint: str = "chat"            # "chat" | "completion"
    params: Mapping = field(default_factory=dict)   # PARAMS by name; None or absent: the session's default
    messages: Optional[tuple] = None  # chat: the turns before the prompt (None: from `conversation`, or none)
    conversation: Optional[str] = None   # a named chat to continue; the answer is added to it
    new: bool = False                 # start `conversation` afresh
    json: bool = False                # ask for a JSON object
    schema: Any = None                # a pydantic model class; its name (looked up in the notebook when sent);
    #                                   or {"name": ..., "schema": {...}} from history
    extra: Mapping = field(default_factory=dict)    # any other API field, by its name on the wire
    stream: Optional[bool] = None     # None: the session's default
    backend: Optional[str] = None     # None: the session's backend
    source: str = "python"            # who built it (names the flags or fields in error messages)
    resolved: bool = False            # prepared by a Session: sent exactly as it is (replays are)
    tools: tuple = ()                 # functions, Tools, names (looked up by the loop) or wire schemas
    max_steps: Optional[int] = None   # the tool loop's most requests (None: 8); not sent
    approve: Any = None               # ask before each tool call: True (a yes/no prompt) or a function(step)

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_kwargs(cls, prompt: Any, *, endpoint: str = "chat", source: str = "python", **kwargs) -> "Ask":
        """From `cm.chat`/`cm.complete` keyword arguments: parameters by name (or their wire spelling),
        structure by name, and any other API field (`frequency_penalty=`, `extra_body={...}`) as extra."""
        extra = dict(kwargs.pop("extra_body", None) or {})
        structure = {k: kwargs.pop(k) for k in ("messages", "conversation", "new", "json", "schema", "stream",
                                                "backend", "tools", "max_steps", "approve") if k in kwargs}
        tools = structure.get("tools") or ()
        if isinstance(tools, str):  # names of the notebook's functions, as --tools takes them
            tools = [t.strip() for t in tools.split(",") if t.strip()]
        elif callable(tools) and not isinstance(tools, (list, tuple)):
            tools = [tools]
        structure["tools"] = tuple(tools)
        choice = kwargs.get("tool_choice")
        if isinstance(choice, Mapping):  # the wire spelling of a named function
            kwargs["tool_choice"] = (choice.get("function") or {}).get("name")
        params = {}
        for key, value in kwargs.items():
            name = ALIASES.get(key, key)
            if name in BY_NAME:
                params[name] = value
            elif name == "top_logprobs":  # the chat spelling of logprobs=K
                params["logprobs"] = value
            elif key in wire.KNOWN_FIELDS.get(endpoint, ()) or key in wire.REMOVED_FIELDS:
                extra[key] = value  # an API field without a parameter of ours: sent as it is
            else:
                raise E.ParameterError(unknown_argument(key, endpoint))
        if params.get("logprobs") is True:
            params["logprobs"] = 0 if endpoint == "chat" else 1
        elif params.get("logprobs") is False:
            params["logprobs"] = None
        if endpoint == "chat" and isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[0], dict):
            structure["messages"], prompt = tuple(prompt), None  # a whole conversation
        if "messages" in structure and structure["messages"] is not None:
            structure["messages"] = tuple(structure["messages"])
        return cls(prompt=prompt, endpoint=endpoint, params=params, extra=extra, source=source, **structure)

    def replace(self, **changes) -> "Ask":
        """A copy with some fields changed; `params={...}` entries merge into the current ones."""
        if "params" in changes:
            changes["params"] = {**self.params, **changes["params"]}
        return dataclasses.replace(self, **changes)

    def get(self, name: str) -> Any:
        return self.params.get(name)

    # -- checks --------------------------------------------------------------------------------
    def check(self) -> "Ask":
        """Every value within the API's limits and every combination allowed, or one ParameterError line
        naming what the user typed (the flag, the panel field, the argument)."""
        if self.endpoint not in wire.ENDPOINTS:
            raise E.ParameterError(f"endpoint {self.endpoint!r} is not one of {', '.join(wire.ENDPOINTS)}")
        front, checked = self.source, {}
        if self.endpoint == "chat" and self.prompt is not None and not isinstance(self.prompt, (str, list, tuple)):
            raise E.ParameterError(f"the prompt must be a string, content parts or a list of {{'role': ..., "
                                   f"'content': ...}} messages (got {type(self.prompt).__name__})")
        for name, value in self.params.items():
            p = BY_NAME.get(name)
            if p is None:
                raise E.ParameterError(f"unknown parameter {name!r}; known: {', '.join(BY_NAME)}")
            if value is not None and value is not False and self.endpoint not in p.endpoints:
                raise E.ParameterError(_wrong_endpoint(p.shown_as(front), p.endpoints[0], front))
            checked[name] = p.check(value, front)
        if self.endpoint == "completion":
            for (flag, arg), on in ((("--chat", "a conversation"), self.conversation or self.messages),
                                    (("--json", "json"), self.json), (("--schema", "schema"), self.schema is not None),
                                    (("--tools", "tools"), self.tools)):
                if on:
                    raise E.ParameterError(_wrong_endpoint(_said(front, flag, arg), "chat", front))
        if self.json and self.schema is not None:
            raise E.ParameterError(f"use {_said(front, '--json', 'json')} or {_said(front, '--schema NAME', 'schema')}, "
                                   "not both")
        check_tools(self, checked.get("tool_choice"), lambda flag, arg: _said(front, flag, arg))
        if checked.get("echo") and checked.get("raw_tokens"):
            raise E.ParameterError(f"{_said(front, '--echo', 'echo')} and {_said(front, '--raw-tokens', 'raw_tokens')}"
                                   " cannot be used together; pick one")
        return self.replace(params=checked) if checked != dict(self.params) else self

    # -- the wire ------------------------------------------------------------------------------
    def sent_messages(self) -> list:
        """Chat: exactly the messages sent (the turns before the prompt, then the prompt)."""
        turns = [dict(m) for m in (self.messages or ())]
        if self.prompt is not None:
            turns.append({"role": "user", "content": self.prompt})
        return turns

    def wire(self) -> tuple:
        """(endpoint, messages or prompt, API params, extra body) for the client: the one mapping from our
        parameters to the API's fields."""
        params: dict = {}
        for p in PARAMS:
            value = self.params.get(p.name)
            if value is None or p.name == "system" or (p.name == "tool_choice" and not self.tools):
                continue  # (a %config default tool choice applies only to requests with tools)
            if p.name == "tool_choice":
                params["tool_choice"] = value if value in TOOL_CHOICES else {"type": "function",
                                                                             "function": {"name": value}}
            elif p.name == "logprobs":
                params.update({"logprobs": True, "top_logprobs": value} if self.endpoint == "chat"
                              else {"logprobs": value})
            elif p.kind == "list":
                params[p.wire_name(self.endpoint)] = value[0] if len(value) == 1 else list(value)
            elif p.kind == "bool":
                if value:
                    params[p.wire_name(self.endpoint)] = True
            else:
                params[p.wire_name(self.endpoint)] = value
        if self.endpoint == "chat":
            fmt = response_format(self.schema) if self.schema is not None else (
                {"type": "json_object"} if self.json else None)
            if fmt is not None:
                params["response_format"] = fmt
            if self.tools:
                params["tools"] = [tool_spec(t) for t in self.tools]
        known = {k: v for k, v in self.extra.items() if k not in params}
        return self.endpoint, self.sent_messages() if self.endpoint == "chat" else self.prompt, params, known

    @property
    def prompt_text(self) -> str:
        """The prompt as one text, for history rows and short views."""
        prompt = self.prompt
        if prompt is None and self.messages:
            prompt = self.messages[-1].get("content")
        if isinstance(prompt, str):
            return prompt
        return _json.dumps(prompt, ensure_ascii=False, default=str)

    # -- the cell ------------------------------------------------------------------------------
    def to_cell(self) -> str:
        """The %%cerebras cell that sends this request (flags in PARAMS order, the prompt as the body)."""
        words = ["%%cerebras"]
        if self.endpoint == "completion":
            words.append("--completion")
        for p in PARAMS:
            value = self.params.get(p.name)
            if value is None or value is False:
                continue
            if p.kind == "bool":
                words.append(p.flag)
            elif p.kind == "list":
                for item in value:
                    words += [p.flag, _quote(item, p.escaped)]
            else:
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                words += [p.flags[0] if p.name in ("model", "system", "temperature") else p.flag,
                          _quote(shown, p.escaped, commas=p.name == "system")]
        if self.conversation:
            words += ["--new" if self.new else "--chat"] + ([] if self.conversation == "default" else
                                                           [_quote(self.conversation, False)])
        if self.json:
            words.append("--json")
        elif self.schema is not None:
            words += ["--schema", _quote(schema_name(self.schema), False)]
        if self.tools:
            words += ["--tools", _quote(",".join(tool_name(t) for t in self.tools), False)]
            words += ["--max-steps", str(self.max_steps)] if self.max_steps is not None else []
            words += ["--approve"] if self.approve else []
        if self.backend:
            words += ["--backend", self.backend]
        if self.stream is False:
            words.append("--no-stream")
        for key, value in self.extra.items():
            words += ["--param", _quote(f"{key}={_json.dumps(value, ensure_ascii=False)}", False)]
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt_text
        if "{" in prompt or "}" in prompt:
            words.append("--no-interpolate")  # the body is sent as written
        return " ".join(words) + "\n" + prompt

    # -- history -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON: everything needed to send this request again (never a key: an Ask holds none)."""
        out = {"endpoint": self.endpoint, "prompt": self.prompt,
               "params": {k: v for k, v in self.params.items() if v is not None}}
        if self.messages is not None:
            out["messages"] = [dict(m) for m in self.messages]
        for name in ("conversation", "backend", "stream"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.resolved:
            out["resolved"] = True
        if self.json:
            out["json"] = True
        if self.schema is not None:
            out["schema"] = {"name": schema_name(self.schema), "schema": schema_json(self.schema)}
        if self.extra:
            out["extra"] = dict(self.extra)
        if self.tools:
            out["tools"] = [tool_spec(t) for t in self.tools]
        return out

    @classmethod
    def from_dict(cls, data: Mapping, *, source: str = "replay") -> "Ask":
        data = dict(data)
        messages = data.get("messages")
        return cls(prompt=data.get("prompt", ""), endpoint=data.get("endpoint", "chat"),
                   params=dict(data.get("params") or {}), messages=None if messages is None else tuple(messages),
                   conversation=data.get("conversation"), json=bool(data.get("json")), schema=data.get("schema"),
                   extra=dict(data.get("extra") or {}), stream=data.get("stream"), backend=data.get("backend"),
                   source=source, resolved=bool(data.get("resolved")), tools=tuple(data.get("tools") or ()))


def with_system(turns, system: Optional[str]) -> list:
    """The conversation with `system` as its system prompt: it replaces the first system message or comes
    first. None keeps whatever the conversation has; "" removes it."""
    turns = [dict(m) for m in turns]
    if system is None:
        return turns
    rest = turns[1:] if turns and turns[0].get("role") == "system" else turns
    return ([{"role": "system", "content": system}] if system else []) + rest


def response_format(schema) -> dict:
    """A pydantic model class (or a stored {"name", "schema"}) -> the strict json_schema response_format."""
    return {"type": "json_schema", "json_schema": {"name": schema_name(schema), "schema": schema_json(schema),
                                                    "strict": True}}


def schema_name(schema) -> str:
    if isinstance(schema, str):
        return schema
    return schema["name"] if isinstance(schema, Mapping) else schema.__name__


def schema_json(schema) -> dict:
    return dict(schema["schema"]) if isinstance(schema, Mapping) else schema.model_json_schema()


def schema_class(schema):
    """The pydantic class to parse an answer into, or None when only its JSON schema is known."""
    return None if isinstance(schema, Mapping) else schema


def resolve_schema(name: str, namespace: Mapping, shown: str):
    """The pydantic model class called `name` in the user's namespace; `shown` is how the user named it
    (`--schema City`, the Schema field)."""
    obj = namespace.get(name) if name else None
    if obj is None:
        raise E.ParameterError(f"{shown}: no class named {name!r} in the notebook; define a pydantic model "
                               f"class first")
    if not (isinstance(obj, type) and hasattr(obj, "model_json_schema")):
        raise E.ParameterError(f"{shown}: {name} is a {type(obj).__name__}, not a pydantic BaseModel class")
    return obj


def _said(front: str, flag: str, arg: str) -> str:
    """How the user set a structural option: its flag in a cell, its panel field, its Python argument."""
    if front == "magic":
        return flag
    if front == "widget":
        return _PANEL_FIELDS.get(flag, arg)
    return arg


_PANEL_FIELDS = {"--chat": "chat mode", "--json": "the JSON object format", "--schema": "the JSON schema format",
                 "--schema NAME": "the JSON schema format", "--tools": "the Tools field",
                 "--approve": "the Approve checkbox"}


def _wrong_endpoint(what: str, needs: str, front: str) -> str:
    if needs == "completion":
        return f"{what} works only with " + ("--completion" if front == "magic" else "the completion endpoint")
    return f"{what} needs the chat endpoint" + ("; drop --completion" if front == "magic" else ", not completion")


def _quote(text: str, escaped: bool, commas: bool = False) -> str:
    """Shell-quote a flag value; in escaped values newlines and backslashes become the escapes. `commas`:
    a comma that would split the value into a grid (-s) is written `\\,`."""
    text = escape(text) if escaped else text
    if commas:
        text = re.sub(r",(?=\S)", r"\\,", text)
    return shlex.quote(text)
