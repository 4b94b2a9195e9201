"""Pydantic models for what goes over the wire.

Requests are strict (unknown or out-of-range fields fail before anything is sent, with one line naming
the field and what is allowed). Responses are lenient (unknown fields are kept, missing and null are the
same), because the API grows. Chunks are built straight from the SSE bytes with `model_validate_json`,
which costs about the same as `json.loads`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .._errors import ParameterError
from .._wire import (GRAMMAR_ROOTS, MAX_STOP, RANGES, REASONING_EFFORTS, REASONING_FORMATS, RESPONSE_FORMATS,
                    SERVICE_TIERS, TOOL_CHOICES)

# ---------------------------------------------------------------- requests

_ALLOWED = {  # field -> what is allowed, for the one-line message
    "temperature": "a number from {:g} to {:g}".format(*RANGES["temperature"]),
    "top_p": "a number from {:g} to {:g}".format(*RANGES["top_p"]),
    "top_logprobs": "an integer from {} to {}, together with logprobs=True".format(*RANGES["top_logprobs"]),
    "logprobs": "True/False (chat) or an integer from {} to {} (completions)".format(*RANGES["logprobs"]),
    "stop": f"a string or a list of at most {MAX_STOP} strings",
    "max_completion_tokens": "a positive integer",
    "max_tokens": "a positive integer",
    "min_completion_tokens": "an integer >= -1 (0: model decides, -1: max sequence length)",
    "min_tokens": "an integer >= -1 (0: model decides, -1: max sequence length)",
    "frequency_penalty": "a number from {:g} to {:g}".format(*RANGES["frequency_penalty"]),
    "presence_penalty": "a number from {:g} to {:g}".format(*RANGES["presence_penalty"]),
    "n": "an integer from {} to {}".format(*RANGES["n"]),
    "seed": "an integer",
    "model": "a model id (%cerebras models lists them)",
    "messages": "a prompt string or a list of {'role': ..., 'content': ...} messages",
    "prompt": "a string, a list of strings, a list of token ids or a list of token-id lists",
    "service_tier": "one of " + ", ".join(SERVICE_TIERS),
    "reasoning_effort": "one of " + ", ".join(REASONING_EFFORTS),
    "reasoning_format": "one of " + ", ".join(REASONING_FORMATS),
    "grammar_root": "one of " + ", ".join(GRAMMAR_ROOTS),
    "response_format": "{'type': 'text'}, {'type': 'json_object'} or "
    "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}",
    "tool_choice": "none, auto, required or {'type': 'function', 'function': {'name': ...}}",
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    @classmethod
    def build(cls, **fields: Any):
        """Validate keyword arguments; raise ParameterError with one line on any problem."""
        try:
            return cls.model_validate({k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            raise ParameterError(_one_line(cls, exc, fields)) from None

    def to_json(self) -> dict:
        return self.model_dump(exclude_none=True, by_alias=True, mode="json")


def _one_line(cls, exc: ValidationError, given: dict) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = [str(x) for x in err["loc"] if not isinstance(x, int)]
        field = loc[0] if loc else "request"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(cls.model_fields))
            parts.append(f"unknown parameter {field!r}; allowed: {allowed} (or extra_body={{...}})")
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):  # our own cross-field checks already name the field
            parts.append(f"invalid parameters: {msg[len('Value error, '):]}")
            continue
        value = given.get(field, err.get("input"))
        shown = "" if isinstance(value, (dict, list)) or value is None else f"={value!r}"
        hint = _ALLOWED.get(field)
        if hint and err["type"] in ("literal_error", "enum"):
            parts.append(f"invalid {field}{shown}; allowed: {hint}")
        else:
            parts.append(f"invalid {field}{shown}: {msg[0].lower() + msg[1:]}" + (f"; allowed: {hint}" if hint else ""))
    return "; ".join(dict.fromkeys(parts))


Stop = Union[str, List[str]]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: Union[str, List[Dict[str, Any]], None] = None


class JSONSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: Optional[str] = None
    schema_: Dict[str, Any] = Field(alias="schema")  # "schema" shadows a BaseModel attribute
    strict: Optional[bool] = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal[RESPONSE_FORMATS]
    json_schema: Optional[JSONSchemaFormat] = None

    @model_validator(mode="after")
    def _needs_schema(self):
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs json_schema={'name': ..., 'schema': {...}}")
        return self


class _Common(_Request):
    model: str = Field(min_length=1)
    temperature: Optional[float] = Field(None, ge=RANGES["temperature"][0], le=RANGES["temperature"][1])
    top_p: Optional[float] = Field(None, ge=RANGES["top_p"][0], le=RANGES["top_p"][1])
    seed: Optional[int] = None
    stop: Optional[Stop] = None
    stream: Optional[bool] = None
    user: Optional[str] = None

    @model_validator(mode="after")
    def _stop_count(self):
        if isinstance(self.stop, list) and len(self.stop) > MAX_STOP:
            raise ValueError(f"stop has {len(self.stop)} strings; at most {MAX_STOP} are allowed")
        return self


class ChatRequest(_Common):
    messages: List[Message] = Field(min_length=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    max_tokens: Optional[int] = Field(None, ge=1)
    min_completion_tokens: Optional[int] = Field(None, ge=-1)
    n: Optional[int] = Field(None, ge=RANGES["n"][0], le=RANGES["n"][1])
    frequency_penalty: Optional[float] = Field(None, ge=RANGES["frequency_penalty"][0], le=RANGES["frequency_penalty"][1])
    presence_penalty: Optional[float] = Field(None, ge=RANGES["presence_penalty"][0], le=RANGES["presence_penalty"][1])
    logit_bias: Optional[Dict[str, float]] = None
    stream_options: Optional[Dict[str, Any]] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = Field(None, ge=RANGES["top_logprobs"][0], le=RANGES["top_logprobs"][1])
    response_format: Optional[ResponseFormat] = None
    tools: Optional[List[Dict[str, Any]]] = None
    tool_choice: Union[Literal[TOOL_CHOICES], Dict[str, Any], None] = None
    parallel_tool_calls: Optional[bool] = None
    service_tier: Optional[Literal[SERVICE_TIERS]] = None
    reasoning_effort: Optional[Literal[REASONING_EFFORTS]] = None
    reasoning_format: Optional[Literal[REASONING_FORMATS]] = None
    disable_reasoning: Optional[bool] = None   # retired on 2026-07-21: servers answer 400; reasoning_effort="none"
    clear_thinking: Optional[bool] = None      # GLM: drop earlier turns' reasoning from the context
    prediction: Optional[Dict[str, Any]] = None   # predicted output: {"type": "content", "content": "..."}

    @model_validator(mode="after")
    def _pairs(self):
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError(f"top_logprobs={self.top_logprobs} needs logprobs=True")
        return self


class CompletionRequest(_Common):
    prompt: Union[str, List[str], List[int], List[List[int]]]
    max_tokens: Optional[int] = Field(None, ge=1)
    min_tokens: Optional[int] = Field(None, ge=-1)
    echo: Optional[bool] = None
    return_raw_tokens: Optional[bool] = None
    grammar_root: Optional[Literal[GRAMMAR_ROOTS]] = None
    logprobs: Optional[int] = Field(None, ge=RANGES["logprobs"][0], le=RANGES["logprobs"][1])

    @model_validator(mode="after")
    def _pairs(self):
        if self.echo and self.return_raw_tokens:
            raise ValueError("echo=True and return_raw_tokens=True cannot be used together; pick one")
        return self


# ---------------------------------------------------------------- responses


class _Response(BaseModel):
    """Lenient: unknown fields kept (the API grows), missing == null."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


class RateLimit(_Response):
    limit_requests_day: Optional[float] = None
    limit_tokens_minute: Optional[float] = None
    remaining_requests_day: Optional[float] = None
    remaining_tokens_minute: Optional[float] = None
    reset_requests_day: Optional[float] = None
    reset_tokens_minute: Optional[float] = None

    @classmethod
    def from_headers(cls, headers) -> Optional["RateLimit"]:
        """Every `x-ratelimit-*` header, as a number: the known ones as fields, any other (a bucket added
        later, such as one for uncached tokens) kept as an extra field of the same spelling."""
        found = {}
        for key, raw in headers.items():
            key = key.lower()
            if key.startswith("x-ratelimit-"):
                try:
                    found[key[12:].replace("-", "_")] = float(str(raw).strip().rstrip("s"))
                except ValueError:
                    pass
        return cls(**found) if found else None

    def buckets(self) -> list:
        """[(bucket, limit, remaining, reset seconds)] for every bucket the headers described, e.g.
        ("requests_day", 14400, 14399, 3.2)."""
        values = {**{k: getattr(self, k) for k in type(self).model_fields}, **(self.__pydantic_extra__ or {})}
        names = dict.fromkeys(k.split("_", 1)[1] for k, v in values.items()
                              if v is not None and k.split("_", 1)[0] in ("limit", "remaining", "reset") and "_" in k)
        return [(b, values.get(f"limit_{b}"), values.get(f"remaining_{b}"), values.get(f"reset_{b}")) for b in names]


class Usage(_Response):
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    prompt_tokens_details: Optional[Dict[str, Any]] = None
    completion_tokens_details: Optional[Dict[str, Any]] = None


class TimeInfo(_Response):
    queue_time: Optional[float] = None
    prompt_time: Optional[float] = None
    completion_time: Optional[float] = None
    total_time: Optional[float] = None
    created: Optional[float] = None


class TopLogprob(_Response):
    token: str = ""
    logprob: float = 0.0
    bytes: Optional[List[int]] = None


class TokenLogprob(TopLogprob):
    top_logprobs: Optional[List[TopLogprob]] = None


class ChatLogprobs(_Response):
    content: Optional[List[TokenLogprob]] = None
    refusal: Optional[List[TokenLogprob]] = None


class CompletionLogprobs(_Response):
    tokens: Optional[List[str]] = None
    token_logprobs: Optional[List[Optional[float]]] = None
    top_logprobs: Optional[List[Optional[Dict[str, float]]]] = None
    text_offset: Optional[List[int]] = None


class FunctionCall(_Response):
    name: Optional[str] = None
    arguments: Optional[str] = None


class ToolCall(_Response):
    index: Optional[int] = None
    id: Optional[str] = None
    type: Optional[str] = "function"
    function: Optional[FunctionCall] = None


class ChatMessage(_Response):
    role: Optional[str] = None
    content: Optional[str] = None
    reasoning: Optional[str] = None
    tool_calls: Optional[List[ToolCall]] = None


class ChatChoice(_Response):
    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: Optional[str] = None
    logprobs: Optional[ChatLogprobs] = None
    reasoning_logprobs: Optional[ChatLogprobs] = None


class ChatDelta(ChatMessage):
    """A streamed chunk's delta. Frozen, like ChunkChoice: a stream may hand out one instance in every
    chunk that carries the same text (envelope.py), so none may change under another."""

    model_config = ConfigDict(frozen=True)


class ChunkChoice(_Response):
    model_config = ConfigDict(frozen=True)

    index: int = 0
    delta: ChatDelta = Field(default_factory=ChatDelta)
    finish_reason: Optional[str] = None
    logprobs: Optional[ChatLogprobs] = None
    reasoning_logprobs: Optional[ChatLogprobs] = None


class CompletionChoice(_Response):
    index: int = 0
    text: Optional[str] = None
    finish_reason: Optional[str] = None
    logprobs: Optional[CompletionLogprobs] = None
    tokens: Optional[List[Any]] = None


class _Completed(_Response):
    id: Optional[str] = None
    created: Optional[float] = None
    model: Optional[str] = None
    object: Optional[str] = None
    system_fingerprint: Optional[str] = None
    usage: Optional[Usage] = None
    time_info: Optional[TimeInfo] = None
    # The x-ratelimit-* headers of the HTTP response that carried this object (set by the client). A plain
    # field, not a PrivateAttr: private attributes cost a post-init call on every streamed chunk.
    ratelimit: Optional[RateLimit] = Field(default=None, exclude=True)

    @property
    def finish_reason(self) -> Optional[str]:
        return self.choices[0].finish_reason if self.choices else None


class ChatCompletion(_Completed):
    choices: List[ChatChoice] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return (self.choices[0].message.content or "") if self.choices else ""


class ChatCompletionChunk(_Completed):
    choices: List[ChunkChoice] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return (self.choices[0].delta.content or "") if self.choices else ""


class Completion(_Completed):
    choices: List[CompletionChoice] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return (self.choices[0].text or "") if self.choices else ""


class CompletionChunkChoice(CompletionChoice):
    model_config = ConfigDict(frozen=True)  # shared between chunks with the same text, like ChunkChoice


class CompletionChunk(Completion):
    """A streamed completion chunk: object "text_completion" and the shape of a Completion."""

    choices: List[CompletionChunkChoice] = Field(default_factory=list)


class Model(_Response):
    id: str
    object: Optional[str] = "model"
    created: Optional[int] = None
    owned_by: Optional[str] = None


class ModelList(_Response):
    object: Optional[str] = "list"
    data: List[Model] = Field(default_factory=list)
