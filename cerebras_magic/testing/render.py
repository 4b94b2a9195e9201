"""A generation plan (respond.py) as the wire carries it: one JSON body, or the payloads of an SSE stream.

Streamed content chunks are built from a pre-split JSON template so 20,000-chunk streams stay cheap. Reasoning
logprobs follow the reasoning format: `reasoning_logprobs` for parsed, merged ahead of the content's in
`logprobs` for text_parsed (and raw, where the reasoning is part of the content), none for hidden.
"""
from __future__ import annotations

import json

from .generate import decode_pieces, token_id, token_str
from .respond import Choice, Plan

_SENTINEL = "\x00piece\x00"
SPLIT_CHARS = 8  # argument piece size of a split tool call (the split-tool-calls fault)


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _text(tokens: list[bytes]) -> str:
    return b"".join(tokens).decode("utf-8", "replace")


def _entry(tok: bytes, lp: tuple) -> dict:
    chosen, top = lp
    return {"token": token_str(tok), "logprob": chosen, "bytes": list(tok),
            "top_logprobs": [{"token": token_str(t), "logprob": v, "bytes": list(t)} for t, v in top]}


def _entries(tokens, lps) -> list[dict]:
    return [_entry(t, lp) for t, lp in zip(tokens, lps)]


def _completion_logprobs(c: Choice, echo_null: bool = False) -> dict:
    """The legacy shape; offsets count from the start of the prompt, echoed or not (as OpenAI's do). The
    first echoed token gets a number too (OpenAI sends null there, which the Cerebras SDK's schema rejects),
    unless `echo_null` asks for OpenAI's null."""
    out = {"text_offset": [], "token_logprobs": [], "tokens": [], "top_logprobs": []}
    offset = 0 if c.echo else c.prompt_chars
    for toks, lps in ((c.echo, c.echo_lps or []), (c.tokens, c.lps or [])):
        for tok, piece, (chosen, top) in zip(toks, decode_pieces(toks), lps):
            name = token_str(tok)
            tops = {token_str(t): v for t, v in top}
            tops.setdefault(name, chosen)
            first = echo_null and not out["tokens"] and toks is c.echo
            out["text_offset"].append(offset)
            out["token_logprobs"].append(None if first else chosen)
            out["tokens"].append(name)
            out["top_logprobs"].append(None if first else tops)
            offset += len(piece)
    return out


def _chat_logprobs(plan: Plan, c: Choice) -> dict:
    """`logprobs` and `reasoning_logprobs` of a whole chat choice, as the reasoning format puts them."""
    out = {}
    if c.lps is not None:
        merged = plan.reasoning_format == "text_parsed" and c.reasoning_lps
        content = (_entries(c.reasoning, c.reasoning_lps) if merged else []) + _entries(c.tokens, c.lps)
        out["logprobs"] = {"content": content, "refusal": None}
    if c.reasoning_lps and plan.reasoning_format == "parsed":
        out["reasoning_logprobs"] = {"content": _entries(c.reasoning, c.reasoning_lps), "refusal": None}
    return out


def render(plan: Plan, tokens_per_second: float | None) -> dict:
    """The non-streaming response body."""
    choices = []
    for c in plan.choices:
        if plan.kind == "chat":
            msg = {"role": "assistant"}
            if c.tool_calls:
                msg["tool_calls"] = c.tool_calls
            else:
                msg["content"] = _text(c.tokens)
            if c.reasoning:
                msg["reasoning"] = _text(c.reasoning)
            choice = {"finish_reason": c.finish, "index": c.index, "message": msg, **_chat_logprobs(plan, c)}
        else:
            choice = {"index": c.index, "text": _text(c.echo + c.tokens), "finish_reason": c.finish}
            if c.lps is not None:
                choice["logprobs"] = _completion_logprobs(c, plan.echo_null)
            if plan.raw_tokens:
                choice["tokens"] = [token_id(t) for t in c.tokens]
        choices.append(choice)
    body = {"id": plan.id, "choices": choices, "created": plan.created, "model": plan.model,
            "system_fingerprint": plan.fingerprint,
            "object": "chat.completion" if plan.kind == "chat" else "text_completion",
            "usage": plan.usage(), "time_info": plan.time_info(tokens_per_second)}
    if plan.service_tier:
        body["service_tier"] = plan.service_tier
    return body


def _tool_deltas(calls: list[dict], split: bool) -> list[list[dict]]:
    """Each streamed tool-call delta list: all calls whole in one chunk (as Cerebras sends them), or each
    call's name first and its arguments in small pieces (as OpenAI-style servers do)."""
    if not split:
        return [[{"index": k, **call} for k, call in enumerate(calls)]]
    out = []
    for k, call in enumerate(calls):
        args = call["function"]["arguments"]
        out.append([{"index": k, "id": call["id"], "type": "function",
                     "function": {"name": call["function"]["name"], "arguments": ""}}])
        out += [[{"index": k, "type": "function", "function": {"arguments": args[at:at + SPLIT_CHARS]}}]
                for at in range(0, len(args), SPLIT_CHARS)]
    return out


def events(plan: Plan, tokens_per_second: float | None, split_tools: bool = False) -> tuple[list[int], list[str]]:
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
            where = "reasoning_logprobs" if plan.reasoning_format == "parsed" else "logprobs"
            for n, piece in enumerate(decode_pieces(c.reasoning)):
                one = {"delta": {"reasoning": piece}, "index": i}
                if c.reasoning_lps:
                    one[where] = {"content": [_entry(c.reasoning[n], c.reasoning_lps[n])], "refusal": None}
                add(chunk(one), due)
                due += 1
            due += c.hidden
            if c.tool_calls:
                due += c.tool_tokens
                for deltas in _tool_deltas(c.tool_calls, split_tools):
                    add(chunk({"delta": {"tool_calls": deltas}, "index": i}), due)
            template = {"delta": {"content": _SENTINEL}, "index": i}
        else:
            template = {"index": i, "text": _SENTINEL, "finish_reason": None}
            lp_all = _completion_logprobs(c, plan.echo_null) if c.lps is not None else None
            if c.echo:
                echo = {"index": i, "text": _text(c.echo), "finish_reason": None}
                if lp_all:
                    echo["logprobs"] = {k: v[:len(c.echo)] for k, v in lp_all.items()}
                add(chunk(echo), due)
        pre, post = chunk(template).split(dumps(_SENTINEL))
        pieces = decode_pieces(c.tokens) if not c.tool_calls else []
        for n, piece in enumerate(pieces):
            if c.lps is None and not plan.raw_tokens:
                add(pre + dumps(piece) + post, due)
            elif plan.kind == "chat":
                lp = {"content": [_entry(c.tokens[n], c.lps[n])], "refusal": None}
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
        if last and plan.service_tier:
            extra["service_tier"] = plan.service_tier
        final = ({"delta": {}, "finish_reason": c.finish, "index": i} if plan.kind == "chat"
                 else {"index": i, "text": "", "finish_reason": c.finish})
        add(chunk(final, **extra), dues[-1])
    return dues, out
