"""The batch engine: asyncio on the session's AsyncClient, each row one `Session.arun` call (one request
path, one history row per call), at most `concurrency` in flight and no faster than the rate limits allow.

One dispatcher reads the input in windows (a resumed batch looks a window's request hashes up in the
history at once), skips the rows that already have a result, and launches the rest in input order once a
slot and the limiter agree. Until the first response's headers arrive only one request is in flight: they
say which buckets exist (and a spent bucket, after a crash, meets one 429, not `concurrency` of them). The client's response hook feeds every response (a retried 429 included) to the
limiter, so one 429 pauses the whole batch for its Retry-After; the client retries that request when the
pause ends (the limiter charges it for that retry), and a row whose retries all fail is a row with its error.
A row whose call still ends in a 429 (the client's retries spent, or an error event inside a stream, after
a 200, which the client cannot retry) is sent again by the engine after the batch's pause, as many times as
the client retries (each try is its own history row, and a resumed batch takes the row's ok one). Stopping cancels the dispatcher and the calls in flight
(each ends `interrupted` in the history, as a cancelled `arun` does); every finished row is kept.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import time
from typing import Any, Optional

from .. import _errors as E
from ._batch_out import Collector, Sink, Stats
from ._limits import Limiter
from ._params import PARAMS

PROBE = 1                  # requests in flight before the first response says which rate limits there are
WINDOW = 64                # rows read (and, when resuming, looked up) at a time
RELEASE_EVERY = 256        # keep=False: history rows dropped from memory (not the store) this often
FLOATS = frozenset(p.name for p in PARAMS if p.kind == "float")
_MARK: contextvars.ContextVar = contextvars.ContextVar("cerebras_batch_mark", default=None)


class _Tag:
    """The observer that marks a row's call as part of this batch (columns batch, batch_key, batch_row)."""
    __slots__ = ("tags", "result")

    def __init__(self, tags: dict):
        self.tags, self.result = tags, None

    def start(self, r) -> None:
        r.tags.update(self.tags)
        self.result = r

    def update(self, r, new) -> None:
        pass

    def finish(self, r) -> None:
        pass


def request_blob(ask) -> str:
    """The resolved request without its prompt, as canonical JSON (how the answer arrives, `stream`, is left
    out: it does not change the answer)."""
    spec = {k: v for k, v in ask.to_dict().items() if k not in ("prompt", "stream")}
    spec["params"] = {k: float(v) if k in FLOATS and isinstance(v, int) and not isinstance(v, bool) else v
                      for k, v in spec.get("params", {}).items()}  # temperature=0 and -t 0 are one request
    return json.dumps(spec, sort_keys=True, ensure_ascii=False, default=str)


def request_key(blob: str, prompt: Any) -> str:
    """The content hash that resumes a row: the whole request (model, parameters, system prompt, schema,
    the filled prompt). A changed template or parameter is a new key, so that row is sent again."""
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=str)
    return hashlib.sha256(f"{blob}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _rate_limited(r) -> bool:
    """The call failed with a 429: a status the client's own retries did not get past, or an error event
    inside a stream (after a 200, which the client cannot retry; text may have arrived before it)."""
    exc = getattr(r, "exception", None)
    return r.status == "error" and isinstance(exc, E.APIStatusError) and exc.status_code == 429


class Engine:
    def __init__(self, session, base, rows, fill, *, stats: Stats, collector: Collector, sink: Optional[Sink],
                 limiter: Limiter, concurrency: int, name: Optional[str], tag: str, retry_errors: bool,
                 answer: str, schema_cls=None):
        self.session, self.base, self.rows, self.fill = session, base, rows, fill
        self.stats, self.collector, self.sink, self.limiter = stats, collector, sink, limiter
        self.concurrency, self.name, self.tag, self.retry_errors = concurrency, name, tag, retry_errors
        self.answer, self.schema_cls = answer, schema_cls
        self.blob = request_blob(base)
        self.base_chars = len(json.dumps(list(base.messages or ()), ensure_ascii=False))
        self.max_tokens = base.params.get("max_tokens")
        self.tasks: set = set()
        self.read = 0
        self.released: list = []
        self._seen = [0, 0, 0, 0]   # prompt chars, prompt tokens, answers, completion tokens: for the charge
        self.dispatcher = None

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        self.first = asyncio.Event()
        self.slots = asyncio.Semaphore(self.concurrency)
        client = self.session.client(self.base.backend, asynchronous=True)
        client.on_response(self._on_response)
        self.retries = getattr(client, "max_retries", 2)  # also for a 429 inside a stream (see _one)
        self.dispatcher = asyncio.ensure_future(self._dispatch())
        failed = None
        try:
            try:
                await self.dispatcher
            except asyncio.CancelledError:
                if not self.stats.stopped:
                    raise
            except Exception as exc:  # the input itself failed (a generator raised): stop, keep what finished
                failed = exc
                self.stop()
            while self.tasks:
                await asyncio.wait(list(self.tasks))
        finally:
            self._finish()
            await client.aclose()
        if failed is not None:
            raise failed

    def stop(self) -> None:
        """Cancel the dispatcher and every call in flight (called on the engine's loop)."""
        self.stats.stopped = True
        for task in [self.dispatcher, *self.tasks]:
            if task is not None and not task.done():
                task.cancel()

    def _finish(self) -> None:
        st = self.stats
        st.waiting = None
        st.not_sent = max(0, (st.total if st.total is not None else self.read) - st.done)
        if self.sink is not None:
            self.sink.close()
        if self.released:
            self.session.history.release(self.released)
        st.ended, st.finished = st.ended or time.perf_counter(), True

    async def _dispatch(self) -> None:
        window: list = []
        for pos, label, row in self.rows:
            if self.stats.stopped:  # stopped before this task could be cancelled
                return
            self.collector.reserve(pos)
            self.read = pos + 1
            window.append((pos, label, row))
            if len(window) >= WINDOW or pos == 0:
                await self._window(window)
                window = []
        if window:
            await self._window(window)

    async def _window(self, items: list) -> None:
        specs = []
        for pos, label, row in items:
            try:
                prompt = self.fill(row)
            except E.ParameterError as exc:  # this row lacks a placeholder's key: its error, no call
                self._record(pos, {"status": "error", "error": f"ParameterError: {exc}"})
                continue
            specs.append((pos, self.base.replace(prompt=prompt, source="batch"), request_key(self.blob, prompt)))
        found = self.session.history.batch_results(self.name, [s[2] for s in specs]) if self.name and specs else {}
        for pos, ask, key in specs:
            row = found.get(key)
            if row is not None and (row["status"] == "ok" or not self.retry_errors):
                self._record(pos, self._from_row(row), resumed=True)
            else:
                await self._launch(pos, ask, key)

    async def _launch(self, pos: int, ask, key: str) -> None:
        await self.slots.acquire()
        try:
            if not self.limiter.known and len(self.tasks) >= PROBE:
                await self.first.wait()  # the first response says which rate limits there are
            charge = self._charge(ask)
            await self._turn(charge)
        except BaseException:
            self.slots.release()
            raise
        mark = self.limiter.take(charge)
        task = asyncio.ensure_future(self._one(pos, ask, key, mark, charge))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _turn(self, charge: float) -> None:
        """Wait until the limiter lets a request charged `charge` go (a 429's pause included)."""
        while True:
            wait, why = self.limiter.delay(charge)
            if wait <= 0:
                break
            self.stats.waiting = why
            await asyncio.sleep(min(wait, 0.25))
        self.stats.waiting = None

    async def _one(self, pos: int, ask, key: str, mark: dict, charge: float = 0.0) -> None:
        attempt = 0
        try:
            while True:
                tag = _Tag({"batch": self.tag, "batch_key": key, "batch_row": pos})
                _MARK.set(mark)
                try:
                    r = await self.session.arun(ask, observers=[tag], errors="return")
                except asyncio.CancelledError:  # stopped: arun ended the call `interrupted`, with its row
                    self._record(pos, self._from_result(tag.result) if tag.result else {"status": "not_sent"})
                    raise
                except Exception as exc:  # a bug on one row's path: that row fails, the others go on
                    rec = self._from_result(tag.result) if tag.result else {}
                    self._record(pos, {**rec, "status": "error", "error": f"{type(exc).__name__}: {exc}"})
                    return
                if _rate_limited(r) and attempt < self.retries:
                    # a row is not lost to the rate limit: the whole batch pauses, then this row goes again
                    # (a 429 status after the client's retries, or one inside a stream, which it never saw);
                    # the failed try stays a history row
                    attempt += 1
                    if getattr(r.exception, "in_stream", False):  # a 429 status came through the response hook
                        self.limiter.observe(429, getattr(r.exception, "headers", None) or {}, mark)
                        self.stats.rate_limited = self.limiter.rate_limited
                    await self._turn(charge)
                    mark = self.limiter.take(charge, mark)
                    continue
                self._learn(ask, r)
                self._record(pos, self._from_result(r))
                return
        finally:
            self.limiter.settle(mark)
            self.slots.release()
            if not self.first.is_set():
                self.limiter.known = True
                self.first.set()

    async def _on_response(self, response) -> None:
        mark = _MARK.get()
        self.limiter.observe(response.status_code, response.headers, mark)
        if response.status_code == 429 and mark is not None:
            self.limiter.take(mark["tokens"], mark)  # the client sends it again when the pause ends
        self.stats.rate_limited = self.limiter.rate_limited
        if not self.first.is_set():
            self.first.set()

    # -- the charge ----------------------------------------------------------------------------
    def _chars(self, ask) -> int:
        """The request's size in characters, counting a chat template's wrapping as 40 more."""
        return self.base_chars + len(ask.prompt_text) + 40

    def _charge(self, ask) -> float:
        """What the server will charge: prompt tokens (characters times the ratio seen so far; 4 a token to
        start with, which errs high) plus max tokens, else the mean answer so far."""
        chars, ptok, answers, ctok = self._seen
        ratio = ptok / chars if chars else 0.25
        most = self.max_tokens or (ctok / answers if answers else 256)
        return self._chars(ask) * ratio + most

    def _learn(self, ask, r) -> None:
        u = r.usage
        if u is not None and u.prompt_tokens:
            self._seen[0] += self._chars(ask)
            self._seen[1] += u.prompt_tokens
        if r.completion_tokens:
            self._seen[2] += 1
            self._seen[3] += r.completion_tokens

    # -- records -------------------------------------------------------------------------------
    def _record(self, pos: int, rec: dict, resumed: bool = False) -> None:
        self.collector.put(pos, rec)
        if self.sink is not None:
            self.sink.add(pos, self.rows.label(pos), rec)
        self.stats.count(rec, resumed)
        if not self.collector.keep and rec.get("history_id") and not resumed:
            self.released.append(rec["history_id"])
            if len(self.released) >= RELEASE_EVERY:
                self.session.history.release(self.released)
                self.released = []

    def _from_result(self, r) -> dict:
        u = r.usage
        return {self.answer: r.parsed if self.answer == "parsed" else r.text, "status": r.status, "error": r.error,
                "finish_reason": r.finish_reason, "prompt_tokens": getattr(u, "prompt_tokens", None),
                "completion_tokens": r.completion_tokens, "ttft": r.ttft, "latency": r.duration,
                "cost_usd": r.cost_usd, "history_id": r.id}

    def _from_row(self, row: dict) -> dict:
        answer = row.get("response")
        if self.answer == "parsed":
            answer = self._parse(answer) if row.get("status") == "ok" else None
        return {self.answer: answer, "status": row.get("status"), "error": row.get("error"),
                "finish_reason": row.get("finish_reason"), "prompt_tokens": row.get("prompt_tokens"),
                "completion_tokens": row.get("completion_tokens"), "ttft": row.get("ttft"),
                "latency": row.get("duration"), "cost_usd": row.get("cost_usd"), "history_id": row.get("id")}

    def _parse(self, text):
        try:
            return self.schema_cls.model_validate_json(text) if self.schema_cls is not None else json.loads(text)
        except (ValueError, TypeError):
            return None
