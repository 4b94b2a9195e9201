"""Turns a validated request into a generation plan (cerebras-api.md §2-5): the tokens of every choice, its
reasoning, tool calls and logprobs, and the prompt's tokens for caching and rate limits. render.py turns a
plan into a response body or SSE events, so a streamed answer and a non-streamed one carry the same tokens.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field

from .. import _wire as wire
from .._wire import stop_list
from . import api
from .generate import TOKEN_IDS, apply_stop, logprobs, prose, rng_for, tokenize
from .schema import fake_json
from .tools import after_tools, message_text, plan_calls, results_text

MAX_SEQUENCE = 65536  # what `min_tokens: -1` and an absent max mean
EFFORT = {"low": 1, "medium": 2, "high": 4}  # reasoning length per effort, in units of 8-12 tokens
_BY_ID = {v: k for k, v in TOKEN_IDS.items()}
THINK = (b"<think>", b"</think>", b"\n\n")


def _text(tokens: list[bytes]) -> str:
    return b"".join(tokens).decode("utf-8", "replace")


@dataclass
class Choice:
    index: int
    tokens: list[bytes]          # the content as sent (for reasoning_format raw, with the reasoning inside)
    finish: str
    reasoning: list[bytes] = field(default_factory=list)  # reasoning sent apart (parsed, text_parsed)
    reasoning_count: int = 0     # reasoning tokens generated, however they are shown
    hidden: int = 0              # reasoning tokens generated but not sent (hidden)
    tool_calls: list = field(default_factory=list)
    tool_tokens: int = 0
    lps: list | None = None
    reasoning_lps: list | None = None
    prediction: tuple | None = None  # (accepted, rejected) prediction tokens
    echo: list[bytes] = field(default_factory=list)
    echo_lps: list | None = None
    prompt_chars: int = 0        # text_offset counts from the prompt's start (cerebras-api.md §3)


@dataclass
class Plan:
    kind: str
    model: str
    prompt_tokens: int
    choices: list[Choice]
    top_k: int | None = None
    reasoning_format: str | None = None  # parsed | text_parsed | raw | hidden for a reasoning answer
    raw_tokens: bool = False
    limit: int | None = None
    prompt_ids: list = field(default_factory=list)  # the prompts as tokens, for the prompt cache
    cached_tokens: int = 0
    service_tier: str | None = None
    echo_null: bool = False  # OpenAI's null logprob for the first echoed token (x-fake-echo-null: 1)
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4()}")
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def completion_tokens(self) -> int:
        return sum(len(c.tokens) + len(c.reasoning) + c.hidden + c.tool_tokens for c in self.choices)

    @property
    def fingerprint(self) -> str:
        return "fp_" + hashlib.sha1(self.model.encode()).hexdigest()[:20]

    def usage(self) -> dict:
        done = self.completion_tokens
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": done,
                 "total_tokens": self.prompt_tokens + done,
                 "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}
        if self.kind == "chat":
            accepted = sum(c.prediction[0] for c in self.choices if c.prediction)
            rejected = sum(c.prediction[1] for c in self.choices if c.prediction)
            details = {"accepted_prediction_tokens": accepted, "rejected_prediction_tokens": rejected}
            reasoning = sum(c.reasoning_count for c in self.choices)
            usage["completion_tokens_details"] = {**details, **({"reasoning_tokens": reasoning} if reasoning else {})}
        return usage

    def time_info(self, tokens_per_second: float | None) -> dict:
        uncached = self.prompt_tokens - self.cached_tokens
        queue, prompt = 0.000112, 0.0004 + uncached / 250_000 + self.cached_tokens / 5_000_000
        completion = self.completion_tokens / (tokens_per_second or 2000.0)
        return {"queue_time": queue, "prompt_time": round(prompt, 8), "completion_time": round(completion, 8),
                "total_time": round(queue + prompt + completion + 0.0003, 8), "created": time.time()}


def _capped(tokens: list[bytes], cap: int) -> tuple[list[bytes], str]:
    if len(tokens) <= cap:
        return tokens, "stop"
    tokens = tokens[:cap]
    while tokens and not _valid(b"".join(tokens)):  # never end inside a split character
        tokens.pop()
    return tokens, "length"


def _valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _reasoning_text(message: dict) -> str:
    value = message.get("reasoning")
    if isinstance(value, list):
        return " ".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return value if isinstance(value, str) else ""


def chat_prompt(messages: list, tools: list, keep_thinking: bool, open_turn: bool = True) -> list[bytes]:
    """The conversation as the model sees it: tool definitions first (static content caches best), then
    each message as 4 frame tokens + its text, then 3 tokens opening the answer. Earlier turns' reasoning
    is dropped unless `keep_thinking` (GLM with clear_thinking false)."""
    out = tokenize(json.dumps(tools)) if tools else []
    for n, m in enumerate(messages):
        last = n == len(messages) - 1
        body = tokenize(message_text(m))
        if keep_thinking and m.get("role") == "assistant" and _reasoning_text(m):
            body = tokenize(_reasoning_text(m)) + body
        out += [b"<|start|>", str(m.get("role")).encode(), b"<|message|>", *body]
        out += [] if last and not open_turn else [b"<|end|>"]
    return out + ([b"<|start|>", b"assistant", b"<|message|>"] if open_turn else [])


def _thoughts(rng, effort: str) -> list[bytes]:
    """Reasoning of a deterministic length per effort (low < medium < high), ending a sentence."""
    n = rng.randint(8, 12) * EFFORT[effort]
    tokens = prose(rng, limit=n - 1, minimum=n - 1)[0]
    while tokens and not _valid(b"".join(tokens)):  # the cut may fall inside a split character
        tokens.pop()
    return tokens + [b"."]


def _continue(base: tuple, prefix: str, cap: int, minimum: int) -> tuple[list[bytes], str]:
    """The rest of a partial assistant message: the fake's own answer's rest when the prefix is a start of
    it (so continuing from a token of an answer gives that answer back), else fresh text seeded by it."""
    natural, _ = prose(rng_for(*base), limit=MAX_SEQUENCE)
    want, size = prefix.encode(), 0
    for k, tok in enumerate(natural):
        if size + len(tok) > len(want):  # the prefix ends inside this token, or leaves the answer
            if tok.startswith(want[size:]):
                return _capped([tok[len(want) - size:], *natural[k + 1:]], cap)
            break
        if want[size:size + len(tok)] != tok:
            break
        size += len(tok)
        if size == len(want):
            return _capped(natural[k + 1:], cap)
    return prose(rng_for(*base, "continue", prefix), limit=cap, minimum=minimum, spaced=not prefix[-1:].isspace())


def _prediction(tokens: list[bytes], predicted: bytes) -> tuple[int, int]:
    """(accepted, rejected): the answer's leading tokens that match the prediction, and the prediction's
    tokens left over after the matched part."""
    size, accepted = 0, 0
    for tok in tokens:
        if not predicted.startswith(tok, size):
            break
        size, accepted = size + len(tok), accepted + 1
    return accepted, len(tokenize(predicted[size:].decode("utf-8", "ignore")))


def plan_chat(body: dict, *, version_patch: int = 2, continue_final: bool = True) -> Plan:
    msgs, model = body["messages"], body["model"]
    limit = next((body[k] for k in ("max_completion_tokens", "max_tokens") if body.get(k) is not None), None)
    minimum = next((body[k] for k in ("min_completion_tokens", "min_tokens") if body.get(k) is not None), 0)
    cap = MAX_SEQUENCE if limit is None else limit
    minimum = cap if minimum == -1 else minimum
    fmt = body.get("response_format") or {}
    last = msgs[-1]
    prefix = message_text(last) if last.get("role") == "assistant" and not last.get("tool_calls") else ""
    continuing = continue_final and bool(prefix)
    convo = msgs[:-1] if continuing else msgs
    base = ("chat", convo, body.get("seed"), body.get("temperature"), body.get("top_p"))
    effort = body.get("reasoning_effort") or "medium"
    thinking = (api.is_reasoning(model) and effort != "none" and not continuing
                and not (version_patch < 2 and body.get("disable_reasoning")))
    shown = body.get("reasoning_format")
    shown = api.default_format(model, fmt) if shown in (None, "none") else shown
    marks = THINK if thinking and shown == "raw" and wire.reasoning_family(model) != "gpt-oss" else ()
    top_k = (body.get("top_logprobs") or 0) if body.get("logprobs") else None
    prediction = body.get("prediction")
    predicted = message_text(prediction).encode() if isinstance(prediction, dict) else None
    choices = []
    for i in range(body.get("n") or 1):
        rng = rng_for(*base, *([i] if i else []))
        thoughts = _thoughts(rng_for(*base, i, "reasoning"), effort) if thinking else []
        thoughts, finish = _capped(thoughts, max(0, cap - len(marks)))
        room = max(0, cap - len(thoughts) - len(marks))
        floor = max(0, minimum - len(thoughts) - len(marks))
        calls = [] if continuing or finish == "length" else plan_calls(body, rng, api.parallel_tools(model)) or []
        if calls:
            tokens, finish = [], "tool_calls"
        elif finish == "length":
            tokens = []
        elif continuing:
            tokens, finish = _continue((*base, *([i] if i else [])), prefix, room, floor)
        elif after_tools(msgs):
            tokens, finish = _capped(tokenize(results_text(msgs)), room)
        elif fmt.get("type") == "json_object":
            text = json.dumps({"answer": _text(prose(rng, limit=MAX_SEQUENCE)[0])}, ensure_ascii=False)
            tokens, finish = _capped(tokenize(text), room)
        elif fmt.get("type") == "json_schema":
            schema = fmt["json_schema"]["schema"]
            tokens, finish = _capped(tokenize(json.dumps(fake_json(rng, schema), ensure_ascii=False)), room)
        else:
            tokens, finish = prose(rng, limit=room, minimum=floor)
        if not calls:
            tokens, stopped = apply_stop(tokens, stop_list(body.get("stop")))
            finish = "stop" if stopped else finish
        c = Choice(i, tokens, finish, reasoning_count=len(thoughts), tool_calls=calls)
        c.tool_tokens = sum(len(tokenize(call["function"]["arguments"])) + 1 for call in calls)
        if thoughts and shown == "raw":
            c.tokens = [*marks[:1], *thoughts, *marks[1:], *tokens]
        elif thoughts and shown == "hidden":
            c.hidden = len(thoughts)
        elif thoughts:
            c.reasoning = thoughts
        if top_k is not None and not calls:
            c.lps = logprobs(rng_for(*base, i, "logprobs"), c.tokens, top_k)
            c.reasoning_lps = logprobs(rng_for(*base, i, "reasoning-logprobs"), c.reasoning, top_k) \
                if c.reasoning else None
        if predicted is not None:
            c.prediction = _prediction(tokens, predicted)
        choices.append(c)
    keep = wire.reasoning_family(model) == "glm" and body.get("clear_thinking") is False
    ids = chat_prompt(msgs, body.get("tools") or [], keep, open_turn=not continuing)
    tier = body.get("service_tier")
    return Plan("chat", model, len(ids), choices, top_k, shown if thinking else None, limit=limit,
                prompt_ids=[ids], service_tier={"auto": "default"}.get(tier, tier))


def _prompt_texts(prompt) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if all(isinstance(p, int) for p in prompt):
        prompt = [prompt]
    return [p if isinstance(p, str) else _text([_BY_ID.get(i, f" tok{i}".encode()) for i in p]) for p in prompt]


def plan_completion(body: dict, *, echo_null: bool = False) -> Plan:
    limit, minimum = body.get("max_tokens"), body.get("min_tokens") or 0
    cap = MAX_SEQUENCE if limit is None else limit
    minimum = cap if minimum == -1 else minimum
    k = body.get("logprobs")
    k = k if isinstance(k, int) and not isinstance(k, bool) else None
    choices, prompt_tokens, n, ids = [], 0, body.get("n") or 1, []
    for p, text in enumerate(_prompt_texts(body["prompt"])):
        ptoks = tokenize(text)
        ids.append(ptoks)
        prompt_tokens += max(1, len(ptoks))
        for j in range(n):
            base = ("completions", text, body.get("seed"), body.get("temperature"), body.get("top_p"),
                    *([j] if j else []))
            spaced = bool(text) and not text[-1].isspace()
            tokens, finish = prose(rng_for(*base), limit=cap, minimum=minimum, spaced=spaced)
            tokens, stopped = apply_stop(tokens, stop_list(body.get("stop")))
            c = Choice(p * n + j, tokens, "stop" if stopped else finish, echo=ptoks if body.get("echo") else [],
                       prompt_chars=len(text))
            if k is not None:
                c.lps = logprobs(rng_for(*base, "logprobs"), tokens, k)
                c.echo_lps = logprobs(rng_for(*base, "prompt"), c.echo, k) if c.echo else None
            choices.append(c)
    return Plan("completion", body["model"], prompt_tokens, choices, k, raw_tokens=bool(body.get("return_raw_tokens")),
                limit=limit, prompt_ids=ids, echo_null=echo_null)
