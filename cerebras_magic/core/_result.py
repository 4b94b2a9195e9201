"""Result: folds a response (streamed chunks or one whole response) into what the user sees and keeps.

This is the single place that knows how chat and text-completion responses differ. Everything that
shows or stores a call (renderer, widget, batch, history) reads a Result, never raw chunks.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ._steps import merge as merge_calls, rows_json
from ._think import ThinkSplitter

Status = str  # "running" | "ok" | "error" | "interrupted"


class _Growing:
    """A str attribute that a stream grows piece by piece, joined only when read.

    `self.text += piece` copies the whole text each time (CPython extends in place only for local
    variables), which is quadratic over a long stream: 20,000 tokens spent a fifth of the cell's time in it.
    """

    def __set_name__(self, owner, name: str) -> None:
        self.key = f"_{name}_parts"

    def __get__(self, obj, owner=None) -> str:
        if obj is None:
            return ""  # the dataclass default
        parts = obj.__dict__[self.key]
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def __set__(self, obj, value: str) -> None:
        obj.__dict__[self.key] = [value] if value else []


@dataclass(eq=False)
class Result:
    endpoint: str = "chat"                      # "chat" | "completion"
    model: str = ""
    prompt: str = ""                            # the user's prompt text as sent (after interpolation)
    system: Optional[str] = None
    messages: List[dict] = field(default_factory=list)
    params: Dict[str, Any] = field(default_factory=dict)   # request fields other than model/messages/prompt
    source: str = "python"                      # "magic" | "python" | "widget" | "batch"
    backend: str = ""                           # base URL (or "local") that answered
    cell_id: Optional[str] = None
    display_format: str = "markdown"            # how the cell rendered it; `r` shows it the same way again
    ask: Any = None                             # the Ask as sent (core._ask.Ask), kept whole in the history row
    model_source: Optional[str] = None          # why this model: None (asked for), "default", "live list", ...
    cost_usd: Optional[float] = None            # from the catalogue's prices; None when they are unknown
    replay_of: Optional[str] = None             # the history id this call sent again
    group_id: Optional[str] = None              # the grid (cm.compare, a comma-list cell) this answer belongs to
    parent_id: Optional[str] = None             # a fork: the answer it branches from ...
    fork_at: Optional[int] = None               # ... at this token position (its text starts with theirs)
    tags: Dict[str, Any] = field(default_factory=dict)   # more history columns (a batch row: batch, batch_key, ...)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"))

    text: str = _Growing()                      # type: ignore[assignment]
    reasoning: str = _Growing()                 # type: ignore[assignment]
    tool_calls: List[Any] = field(default_factory=list)    # ToolSteps (core/_steps.py): this answer's calls; a
    #                                                        tool loop's final Result: every step of the loop
    run_id: Optional[str] = None                # a tool loop's id, on each of its requests' rows
    step: Optional[int] = None                  # this request's number in its tool loop (1, 2, ...)
    tool_results: List[dict] = field(default_factory=list)  # the tool results this request sent back
    tool_note: Optional[str] = None             # how a tool loop ended, when not with an answer
    loop: Optional[Dict[str, Any]] = field(default=None, repr=False)  # a tool loop's final Result: the totals of
    #                                             all its requests (requests, prompt/completion tokens, cost_usd)
    finish_reason: Optional[str] = None
    usage: Optional[Any] = None                 # types.Usage
    time_info: Optional[Any] = None             # types.TimeInfo
    ratelimit: Optional[Any] = None             # types.RateLimit
    response_id: Optional[str] = None
    system_fingerprint: Optional[str] = None
    status: Status = "running"
    error: Optional[str] = None
    parsed: Any = None                          # the --schema / json result, when asked for
    token_logprobs: List[dict] = field(default_factory=list)   # normalized: token, logprob, bytes, top, offset
    reasoning_logprobs: List[dict] = field(default_factory=list)
    raw_tokens: List[int] = field(default_factory=list)         # completion token ids (--raw-tokens)
    chunks: int = 0
    new_reasoning: str = field(default="", repr=False)   # the reasoning the last chunk brought
    streamed: Optional[bool] = None             # whether the answer came as a stream (None: nothing came)

    exception: Optional[BaseException] = field(default=None, repr=False)   # what ended it, if it failed
    t_sent: float = field(default_factory=time.perf_counter)
    t_first_token: Optional[float] = None
    t_done: Optional[float] = None

    # -- folding ---------------------------------------------------------------------------------
    def add_chunk(self, chunk) -> str:
        """Fold one streamed chunk; returns the new answer text (may be ""). `new_reasoning` holds the
        reasoning it brought, so a live view moves while a model thinks."""
        self.chunks += 1
        self.streamed = True
        self.new_reasoning = ""
        new = self._fold(chunk)
        if (new or self.new_reasoning) and self.t_first_token is None:
            self.t_first_token = time.perf_counter()
        return new

    def add_response(self, response) -> None:
        """Fold a whole (non-streamed) response. It has no client-side first token: no TTFT."""
        self.streamed = False
        self._fold(response)

    def _fold(self, obj) -> str:
        self.response_id = self.response_id or obj.id
        self.system_fingerprint = obj.system_fingerprint or self.system_fingerprint
        if obj.model:
            self.model = obj.model
        if obj.usage is not None:
            self.usage = obj.usage
        if obj.time_info is not None:
            self.time_info = obj.time_info
        if not obj.choices:
            return ""
        choice = obj.choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        if self.endpoint == "completion":
            new = choice.text or ""
            if choice.logprobs is not None:
                self.token_logprobs.extend(_completion_logprobs(choice.logprobs))
            if choice.tokens:
                self.raw_tokens.extend(choice.tokens)
        else:  # a chunk's delta, or a whole message (a server may answer a stream request with one)
            msg = choice.message if hasattr(choice, "message") else choice.delta
            new = msg.content or ""
            if msg.reasoning:
                self._add_reasoning(msg.reasoning)
            if new:  # `raw` reasoning arrives inside the content, as a leading <think> block
                thought, new = self._think.feed(new)
                if thought:
                    self._add_reasoning(thought)
            if msg.tool_calls:  # whole, or streamed in pieces joined by index
                merge_calls(self.tool_calls, msg.tool_calls, self.step)
            if choice.logprobs is not None and choice.logprobs.content:
                self.token_logprobs.extend(_chat_logprobs(choice.logprobs.content))
            if choice.reasoning_logprobs is not None and choice.reasoning_logprobs.content:
                self.reasoning_logprobs.extend(_chat_logprobs(choice.reasoning_logprobs.content))
        if new:
            self._text_parts.append(new)
        return new

    def finish(self, status: Status = "ok", error: Optional[BaseException | str] = None) -> "Result":
        thought, rest = self._think.close()
        if thought:
            self._add_reasoning(thought)
        if rest:
            self._text_parts.append(rest)
        self._split_reasoning_logprobs()
        self.status = status
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self.error = error
        self.t_done = time.perf_counter()
        return self

    def _split_reasoning_logprobs(self) -> None:
        """Some formats (gpt-oss's and GLM's text_parsed, raw) put the reasoning tokens' logprobs at the head
        of `logprobs`, not in `reasoning_logprobs`: when the head's text is exactly the reasoning (or its
        <think> block), those entries move over, so the answer's heat-map holds the answer's tokens."""
        if self.reasoning_logprobs or not self.token_logprobs or not self.reasoning:
            return
        from ..display._tokens import token_bytes
        want = self.reasoning.encode("utf-8")
        got, k = b"", 0
        for entry in self.token_logprobs:
            if len(got) >= len(want) + len(b"<think></think>\n\n"):
                break
            got += token_bytes(entry)
            k += 1
            stripped = got.strip()
            if stripped in (want, b"<think>" + want + b"</think>"):
                while k < len(self.token_logprobs) and not token_bytes(self.token_logprobs[k]).strip():
                    k += 1  # the blank lines between the reasoning and the answer
                self.reasoning_logprobs, self.token_logprobs = self.token_logprobs[:k], self.token_logprobs[k:]
                return

    def _add_reasoning(self, piece: str) -> None:
        self._reasoning_parts.append(piece)
        self.new_reasoning += piece

    @property
    def _think(self) -> ThinkSplitter:
        splitter = self.__dict__.get("_splitter")
        if splitter is None:
            splitter = self.__dict__["_splitter"] = ThinkSplitter()
        return splitter

    # -- figures ---------------------------------------------------------------------------------
    @property
    def reasoning_tokens(self) -> Optional[int]:
        """Tokens spent reasoning, as the server counts them (else the reasoning logprobs' count)."""
        details = getattr(self.usage, "completion_tokens_details", None) or {}
        if details.get("reasoning_tokens") is not None:
            return details["reasoning_tokens"]
        return len(self.reasoning_logprobs) or None

    @property
    def cached_tokens(self) -> Optional[int]:
        """Prompt tokens the server had cached (usage.prompt_tokens_details.cached_tokens)."""
        details = getattr(self.usage, "prompt_tokens_details", None) or {}
        return details.get("cached_tokens")

    @property
    def prediction_tokens(self) -> tuple:
        """(accepted, rejected) predicted-output tokens, when a prediction was sent and the server says."""
        details = getattr(self.usage, "completion_tokens_details", None) or {}
        return details.get("accepted_prediction_tokens"), details.get("rejected_prediction_tokens")

    @property
    def ttft(self) -> Optional[float]:
        """Seconds from sending the request to the first visible token (client side)."""
        return None if self.t_first_token is None else self.t_first_token - self.t_sent

    @property
    def duration(self) -> Optional[float]:
        return None if self.t_done is None else self.t_done - self.t_sent

    @property
    def completion_tokens(self) -> Optional[int]:
        if self.usage is not None and self.usage.completion_tokens is not None:
            return self.usage.completion_tokens
        return len(self.token_logprobs) or (self.chunks or None)

    @property
    def tokens_per_second(self) -> Optional[float]:
        """Completion tokens per second, measured as `rate_basis` says: over the stream as the client saw it
        (first token to the end), else from the server's own completion time, else over the whole call."""
        return self._rate()[0]

    @property
    def rate_basis(self) -> Optional[str]:
        """How tokens_per_second was measured: "stream", "server" or "whole call" (None: no figure)."""
        return self._rate()[1]

    def _rate(self) -> tuple:
        n = self.completion_tokens
        if not n or self.t_done is None:
            return None, None
        # a stream of one chunk (a server that ignored stream=true sent the whole answer) has no rate of its own
        if self.streamed and self.chunks >= 2 and self.t_first_token is not None and n >= 2 \
                and self.t_done > self.t_first_token:
            return (n - 1) / (self.t_done - self.t_first_token), "stream"
        ti = self.time_info
        if ti is not None and ti.completion_time:
            return n / ti.completion_time, "server"
        span = self.t_done - self.t_sent
        return (n / span, "whole call") if span > 0 else (None, None)

    def to_row(self) -> Dict[str, Any]:
        """One history row: plain values only (JSON text for nested ones), never the API key."""
        u, ti, rl = self.usage, self.time_info, self.ratelimit
        return {
            "id": self.id, "started_at": self.started_at, "source": self.source, "endpoint": self.endpoint,
            "backend": self.backend, "model": self.model, "prompt": self.prompt, "system": self.system,
            "messages": json.dumps(self.messages, ensure_ascii=False),
            "params": json.dumps(self.params, ensure_ascii=False, sort_keys=True, default=str),
            "response": self.text, "reasoning": self.reasoning or None,
            "tool_calls": rows_json([s.row_call() for s in self.tool_calls]),
            "finish_reason": self.finish_reason, "status": self.status, "error": self.error,
            "prompt_tokens": getattr(u, "prompt_tokens", None), "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens, "reasoning_tokens": self.reasoning_tokens, "cost_usd": self.cost_usd,
            "model_source": self.model_source,
            "total_tokens": getattr(u, "total_tokens", None),
            "queue_time": getattr(ti, "queue_time", None), "prompt_time": getattr(ti, "prompt_time", None),
            "completion_time": getattr(ti, "completion_time", None), "total_time": getattr(ti, "total_time", None),
            "ttft": self.ttft, "duration": self.duration, "tokens_per_second": self.tokens_per_second,
            "rate_basis": self.rate_basis,
            "raw_tokens": json.dumps(self.raw_tokens) if self.raw_tokens else None,
            "ratelimit_remaining_requests": getattr(rl, "remaining_requests_day", None),
            "ratelimit_remaining_tokens": getattr(rl, "remaining_tokens_minute", None),
            "logprobs": _compact_logprobs(self.token_logprobs), "cell_id": self.cell_id,
            "request": None if self.ask is None else json.dumps(self.ask.to_dict(), ensure_ascii=False, default=str),
            "replay_of": self.replay_of,
            **({"run_id": self.run_id, "step": self.step, "tool_results": rows_json(self.tool_results)}
               if self.run_id else {}),
            **{k: getattr(self, k) for k in ("group_id", "parent_id", "fork_at") if getattr(self, k) is not None},
            **self.tags,
        }

    @property
    def logprobs(self):
        """One row per generated token (pandas DataFrame): token, text, offset, logprob, prob, rank, top."""
        from ..display._tokens import frame
        return frame(self.token_logprobs)

    def show_logprobs(self, scale: str = "absolute", top: int = 5, reasoning: bool = True) -> None:
        """Display the token heat-map (scale: 'absolute' 0-1, or 'relative' to this answer's range)."""
        from IPython.display import HTML, display
        from ..display import logprobs_html
        display(HTML(logprobs_html(self, scale=scale, top=top, reasoning=reasoning)))

    def fork(self, position: int, token: str, **kwargs) -> "Result":
        """Continue this answer from `token` (one of the alternatives at token `position`, see `.logprobs`)
        instead of the token the model chose: the branch is a new call (and history row) whose text is this
        answer's up to `position`, then `token`, then the model's continuation. See core/_fork.py."""
        from ._fork import fork
        return fork(self, position, token, **kwargs)

    def _ipython_display_(self) -> None:
        if self.__dict__.pop("_shown", False):  # already streamed into the cell by the renderer
            return
        from ..display import show
        show(self, self.display_format)

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        summary = ""
        if self.token_logprobs or self.reasoning_logprobs:  # the line a terminal --logprobs cell prints
            from ..display import logprobs_summary
            summary = f" logprobs=[{logprobs_summary(self)}]"
        return (f"<Result {self.status} {self.endpoint} model={self.model!r} tokens={self.completion_tokens} "
                f"finish={self.finish_reason!r} text={text!r}{summary}>")

    def __str__(self) -> str:
        return self.text


def _chat_logprobs(content) -> List[dict]:
    return [{"token": t.token, "logprob": t.logprob, "bytes": t.bytes,
             "top": [(a.token, a.logprob) for a in (t.top_logprobs or [])]} for t in content]


def _completion_logprobs(lp) -> List[dict]:
    tokens = lp.tokens or []
    lps = lp.token_logprobs or [None] * len(tokens)
    tops = lp.top_logprobs or [None] * len(tokens)
    offs = lp.text_offset or [None] * len(tokens)
    return [{"token": tok, "logprob": l, "bytes": None, "offset": off,
             "top": sorted((top or {}).items(), key=lambda kv: -kv[1])}
            for tok, l, top, off in zip(tokens, lps, tops, offs)]


def _compact_logprobs(entries: List[dict]) -> Optional[str]:
    """Logprobs for the history row: [[token, logprob, [[alt, logprob], ...]], ...] rounded to 4 places."""
    if not entries:
        return None
    rows = []
    for e in entries:
        row = [e["token"], None if e["logprob"] is None else round(e["logprob"], 4),
               [[t, round(l, 4)] for t, l in e["top"]]]
        if e.get("bytes") and bytes(e["bytes"]) != e["token"].encode("utf-8", "surrogatepass"):
            row.append(e["bytes"])  # only partial UTF-8 tokens need their bytes kept
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
