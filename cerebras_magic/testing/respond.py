"""Turns a validated request into a response body or a list of SSE event payloads (cerebras-api.md §2-5).

Generation happens once, up front, so a streamed answer and a non-streamed one carry the same tokens.
Streamed content chunks are built from a pre-split JSON template so 20,000-chunk streams stay cheap.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field

from .._wire import stop_list
from .api import is_reasoning
from .generate import (TOKEN_IDS, apply_stop, decode_pieces, logprobs, prose, rng_for, token_id, token_str,
                       tokenize)
from .schema import fake_json

MAX_SEQUENCE = 65536  # what `min_tokens: -1` and an absent max mean
_SENTINEL = "\x00piece\x00"
_BY_ID = {v: k for k, v in TOKEN_IDS.items()}


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _text(tokens: list[bytes]) -> str:
    return b"".join(tokens).decode("utf-8", "replace")


@dataclass
class Choice:
    index: int
    tokens: list[bytes]
    finish: str
    reasoning: list[bytes] = field(default_factory=list)
    tool_call: dict | None = None
    lps: list | None = None
    echo: list[bytes] = field(default_factory=list)
    echo_lps: list | None = None
    prompt_chars: int = 0   # text_offset counts from the prompt's start (cerebras-api.md §3)


@dataclass
class Plan:
    kind: str
    model: str
    prompt_tokens: int
    choices: list[Choice]
    top_k: int | None = None
    show_reasoning: bool = False
    raw_tokens: bool = False
    limit: int | None = None
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4()}")
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def completion_tokens(self) -> int:
        return sum(len(c.tokens) + len(c.reasoning) for c in self.choices)

    @property
    def fingerprint(self) -> str:
        return "fp_" + hashlib.sha1(self.model.encode()).hexdigest()[:20]

    def usage(self) -> dict:
        done = self.completion_tokens
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": done,
                 "total_tokens": self.prompt_tokens + done, "prompt_tokens_details": {"cached_tokens": 0}}
        reasoning = sum(len(c.reasoning) for c in self.choices)
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    def time_info(self, tokens_per_second: float | None) -> dict:
        queue, prompt = 0.000112, 0.0004 + self.prompt_tokens / 250_000
        completion = self.completion_tokens / (tokens_per_second or 2000.0)
        return {"queue_time": queue, "prompt_time": round(prompt, 8), "completion_time": round(completion, 8),
                "total_time": round(queue + prompt + completion + 0.0003, 8), "created": time.time()}


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


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


def plan_chat(body: dict) -> Plan:
    msgs, model = body["messages"], body["model"]
    base = ("chat", msgs, body.get("seed"), body.get("temperature"), body.get("top_p"))
    limit = next((body[k] for k in ("max_completion_tokens", "max_tokens") if body.get(k) is not None), None)
    minimum = next((body[k] for k in ("min_completion_tokens", "min_tokens") if body.get(k) is not None), 0)
    cap = MAX_SEQUENCE if limit is None else limit
    minimum = cap if minimum == -1 else minimum
    fmt = body.get("response_format") or {}
    tools, tool_choice = body.get("tools") or [], body.get("tool_choice")
    call_tool = bool(tools) and tool_choice != "none" and (
        tool_choice is not None and tool_choice != "auto" or msgs[-1].get("role") != "tool")
    reasoning = is_reasoning(model) and not body.get("disable_reasoning")
    raw = body.get("reasoning_format") == "raw"
    top_k = (body.get("top_logprobs") or 0) if body.get("logprobs") else None
    choices = []
    for i in range(body.get("n") or 1):
        rng = rng_for(*base, *([i] if i else []))
        thoughts = prose(rng_for(*base, i, "reasoning"), limit=MAX_SEQUENCE)[0] if reasoning else []
        call = None
        if call_tool:
            wanted = (tool_choice.get("function") or {}).get("name") if isinstance(tool_choice, dict) else None
            tool = next((t["function"] for t in tools if t["function"]["name"] == wanted), tools[0]["function"])
            args = json.dumps(fake_json(rng, tool.get("parameters") or {"type": "object"}), ensure_ascii=False)
            call = {"id": f"call_{rng.getrandbits(96):024x}", "type": "function",
                    "function": {"name": tool["name"], "arguments": args}}
            tokens, finish = tokenize(args), "tool_calls"
        else:
            if fmt.get("type") == "json_object":
                text = json.dumps({"answer": _text(prose(rng, limit=MAX_SEQUENCE)[0])}, ensure_ascii=False)
                tokens, finish = _capped(tokenize(text), cap)
            elif fmt.get("type") == "json_schema":
                schema = fmt["json_schema"]["schema"]
                tokens, finish = _capped(tokenize(json.dumps(fake_json(rng, schema), ensure_ascii=False)), cap)
            else:
                tokens, finish = prose(rng, limit=cap, minimum=minimum)
            tokens, stopped = apply_stop(tokens, stop_list(body.get("stop")))
            finish = "stop" if stopped else finish
            if raw and thoughts:
                tokens, thoughts = [b"<think>", *thoughts, b"</think>", b"\n\n", *tokens], []
        lps = logprobs(rng_for(*base, i, "logprobs"), tokens, top_k) if top_k is not None and not call else None
        choices.append(Choice(i, tokens, finish, thoughts, call, lps))
    prompt = sum(len(tokenize(_message_text(m))) + 4 for m in msgs) + 3
    prompt += len(tokenize(json.dumps(tools))) if tools else 0
    show = reasoning and body.get("reasoning_format") != "hidden"
    return Plan("chat", model, prompt, choices, top_k, show, limit=limit)


def _prompt_texts(prompt) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if all(isinstance(p, int) for p in prompt):
        prompt = [prompt]
    return [p if isinstance(p, str) else _text([_BY_ID.get(i, f" tok{i}".encode()) for i in p]) for p in prompt]


def plan_completion(body: dict) -> Plan:
    limit, minimum = body.get("max_tokens"), body.get("min_tokens") or 0
    cap = MAX_SEQUENCE if limit is None else limit
    minimum = cap if minimum == -1 else minimum
    k = body.get("logprobs")
    k = k if isinstance(k, int) and not isinstance(k, bool) else None
    choices, prompt_tokens, n = [], 0, body.get("n") or 1
    for p, text in enumerate(_prompt_texts(body["prompt"])):
        ptoks = tokenize(text)
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
                limit=limit)


def _chat_entry(tok: bytes, lp: tuple) -> dict:
    chosen, top = lp
    return {"token": token_str(tok), "logprob": chosen, "bytes": list(tok),
            "top_logprobs": [{"token": token_str(t), "logprob": v, "bytes": list(t)} for t, v in top]}


def _completion_logprobs(c: Choice) -> dict:
    """The legacy shape; offsets count from the start of the prompt, echoed or not (as OpenAI's do)."""
    out = {"text_offset": [], "token_logprobs": [], "tokens": [], "top_logprobs": []}
    offset = 0 if c.echo else c.prompt_chars
    for toks, lps, is_echo in ((c.echo, c.echo_lps or [], True), (c.tokens, c.lps or [], False)):
        for n, (tok, piece, (chosen, top)) in enumerate(zip(toks, decode_pieces(toks), lps)):
            first = is_echo and n == 0
            name = token_str(tok)
            tops = {token_str(t): v for t, v in top}
            tops.setdefault(name, chosen)
            out["text_offset"].append(offset)
            out["token_logprobs"].append(None if first else chosen)
            out["tokens"].append(name)
            out["top_logprobs"].append(None if first else tops)
            offset += len(piece)
    return out


def render(plan: Plan, tokens_per_second: float | None) -> dict:
    """The non-streaming response body."""
    choices = []
    for c in plan.choices:
        if plan.kind == "chat":
            msg = {"role": "assistant"}
            if c.tool_call:
                msg["tool_calls"] = [c.tool_call]
            else:
                msg["content"] = _text(c.tokens)
            if plan.show_reasoning and c.reasoning:
                msg["reasoning"] = _text(c.reasoning)
            choice = {"finish_reason": c.finish, "index": c.index, "message": msg}
            if c.lps is not None:
                choice["logprobs"] = {"content": [_chat_entry(t, lp) for t, lp in zip(c.tokens, c.lps)],
                                      "refusal": None}
        else:
            choice = {"index": c.index, "text": _text(c.echo + c.tokens), "finish_reason": c.finish}
            if c.lps is not None:
                choice["logprobs"] = _completion_logprobs(c)
            if plan.raw_tokens:
                choice["tokens"] = [token_id(t) for t in c.tokens]
        choices.append(choice)
    return {"id": plan.id, "choices": choices, "created": plan.created, "model": plan.model,
            "system_fingerprint": plan.fingerprint,
            "object": "chat.completion" if plan.kind == "chat" else "text_completion",
            "usage": plan.usage(), "time_info": plan.time_info(tokens_per_second)}


def events(plan: Plan, tokens_per_second: float | None) -> tuple[list[int], list[str]]:
    """SSE payloads and, for each, the index of the token it waits for (pacing is the writer's job)."""
    obj = "chat.completion.chunk" if plan.kind == "chat" else "text_completion"
    tail = {"created": plan.created, "model": plan.model, "system_fingerprint": plan.fingerprint, "object": obj}
    dues, out, due = [], [], 0

    def chunk(choice: dict, **extra) -> str:
        return dumps({"id": plan.id, "choices": [choice], **tail, **extra})

    def add(payload: str, when: int):
        out.append(payload)
        dues.append(when)

    for c in plan.choices:
        i = c.index
        if plan.kind == "chat":
            add(chunk({"delta": {"role": "assistant", "content": ""}, "index": i}), due)
            for piece in decode_pieces(c.reasoning) if plan.show_reasoning else ():
                add(chunk({"delta": {"reasoning": piece}, "index": i}), due)
                due += 1
            due += 0 if plan.show_reasoning else len(c.reasoning)
            if c.tool_call:
                due += len(c.tokens)
                add(chunk({"delta": {"tool_calls": [{"index": 0, **c.tool_call}]}, "index": i}), due)
            template = {"delta": {"content": _SENTINEL}, "index": i}
        else:
            template = {"index": i, "text": _SENTINEL, "finish_reason": None}
            lp_all = _completion_logprobs(c) if c.lps is not None else None
            if c.echo:
                echo = {"index": i, "text": _text(c.echo), "finish_reason": None}
                if lp_all:
                    echo["logprobs"] = {k: v[:len(c.echo)] for k, v in lp_all.items()}
                add(chunk(echo), due)
        pre, post = chunk(template).split(dumps(_SENTINEL))
        pieces = decode_pieces(c.tokens) if not c.tool_call else []
        for n, piece in enumerate(pieces):
            if c.lps is None and not plan.raw_tokens:
                add(pre + dumps(piece) + post, due)
            elif plan.kind == "chat":
                lp = {"content": [_chat_entry(c.tokens[n], c.lps[n])], "refusal": None}
                add(chunk({"delta": {"content": piece}, "index": i, "logprobs": lp}), due)
            else:
                one = {"index": i, "text": piece, "finish_reason": None}
                if lp_all:
                    at = len(c.echo) + n
                    one["logprobs"] = {k: v[at:at + 1] for k, v in lp_all.items()}
                if plan.raw_tokens:
                    one["tokens"] = [token_id(c.tokens[n])]
                add(chunk(one), due)
            due += 1
        last = c is plan.choices[-1]
        extra = {"usage": plan.usage(), "time_info": plan.time_info(tokens_per_second)} if last else {}
        final = ({"delta": {}, "finish_reason": c.finish, "index": i} if plan.kind == "chat"
                 else {"index": i, "text": "", "finish_reason": c.finish})
        add(chunk(final, **extra), dues[-1])
    return dues, out
