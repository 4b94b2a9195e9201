"""The offline backend: SmolLM2-135M-Instruct run by llama.cpp in this process, behind an httpx transport.

Why a transport: the client, magic, widget and history all speak the Cerebras wire format, so answering
that format in-process lets the offline path run exactly the code the online one does. This module is that
wire (Cerebras-shaped JSON and SSE); _requests.py checks requests, _engine.py runs the model and
_sampling.py generates (logprobs there are the model's own distribution).

Decisions: the one model id is MODEL_ID; any other gets the 404 model_not_found Cerebras sends (a cell
that names a Cerebras model is told so, in one line listing what is offered, rather than answered by
another model under its name). A chat response_format of json_object or json_schema
is followed with llama.cpp's grammar sampler, so the answer parses unless max tokens cut it ("length");
so are a tool call's arguments, when a `tools` request asks for a call (the rule is in _tools.py).
time_info counts compute: the model load and lock waits are queue_time; time a reader spends between
reads is not counted. One model serves all requests a token at a time, so open streams take turns.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

import httpx

from .. import _wire as wire
from ._engine import Model, loaded_model, shared_model
from ._files import INSTALL_HINT, MODEL_ID, model_path
from ._sampling import BadRequest, Generation
from ._requests import HTTPError, bad, validate

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def _token_name(piece: bytes) -> str:
    """A token's text; a partial UTF-8 sequence is spelled 'bytes:\\xf0\\x9f' as OpenAI does."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in piece)


class _Job(Generation):
    """One request's generation, and the Cerebras-shaped JSON and SSE it produces."""

    def __init__(self, transport: "LocalTransport", model: Model, kind: str, body: dict, arrived: tuple):
        try:
            super().__init__(model, kind, body, arrived[0])
        except BadRequest as exc:
            raise bad(str(exc)) from None
        self.transport, self.kind, self.created = transport, kind, arrived[1]
        self.id = "chatcmpl-" + str(uuid.uuid4())
        self.stream, self.raw = bool(body.get("stream")), bool(body.get("return_raw_tokens"))

    def counted(self) -> None:
        super().counted()
        self.transport.tokens_generated += 1

    def _head(self) -> dict:
        kind = "chat.completion.chunk" if self.stream else "chat.completion"
        return {"id": self.id, "object": kind if self.kind == "chat" else "text_completion",
                "created": int(self.created), "model": MODEL_ID, "system_fingerprint": self.model.fingerprint}

    def _logprobs_json(self, entries: list) -> dict:
        piece = self.model.piece
        if self.kind == "chat":
            def one(tok: int, lp: float, top=None) -> dict:
                entry = {"token": _token_name(piece(tok)), "logprob": lp, "bytes": list(piece(tok))}
                if top is not None:
                    entry["top_logprobs"] = [one(i, v) for i, v in top]
                return entry
            return {"content": [one(tok, lp, top) for tok, _, _, lp, top in entries], "refusal": None}
        tops = []
        for tok, _, _, lp, top in entries:  # the legacy shape; the chosen token is always among the keys
            tops.append(None if top is None else {_token_name(piece(i)): v for i, v in top})
            if top is not None:
                tops[-1].setdefault(_token_name(piece(tok)), lp)
        return {"tokens": [_token_name(e[1]) for e in entries], "token_logprobs": [e[3] for e in entries],
                "top_logprobs": tops, "text_offset": [e[2] for e in entries]}

    def _choice(self, text: str, entries: list, finish: Optional[str] = None) -> dict:
        if self.kind == "chat":
            said = ({"delta": {"content": text} if text else {}} if self.stream
                    else {"message": {"role": "assistant", "content": text}})
            choice = {"index": 0, **said, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
            if self.raw:
                choice["tokens"] = [e[0] for e in entries]
        if self.top_k is not None:
            choice["logprobs"] = self._logprobs_json(entries)
        return choice

    def _usage(self) -> dict:
        n, times = len(self.prompt_ids), dict(self.times)
        times["total_time"], times["created"] = sum(times.values()), self.created
        return {"usage": {"prompt_tokens": n, "completion_tokens": self.generated, "total_tokens": n + self.generated,
                          "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}, "time_info": times}

    def _call(self, arguments: str, streamed: bool) -> dict:
        """The tool call the model wrote (whole, as Cerebras streams calls: in one chunk)."""
        call = {"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                "function": {"name": self.tool["name"], "arguments": arguments.strip()}}
        return {"index": 0, **call} if streamed else call

    def complete(self) -> dict:
        texts, entries = [], []
        for text, got in self.steps():
            texts.append(text)
            entries += got
        if self.tool:
            finish = "tool_calls" if self.finish == "stop" else self.finish
            choice = {"index": 0, "message": {"role": "assistant", "tool_calls": [self._call("".join(texts), False)]},
                      "finish_reason": finish}
            return {**self._head(), "choices": [choice], **self._usage()}
        return {**self._head(), "choices": [self._choice("".join(texts), entries, self.finish)], **self._usage()}

    def sse(self):
        head = self._head()

        def event(obj: dict) -> bytes:
            return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
        try:
            if self.kind == "chat":
                yield event({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                  "finish_reason": None}]})
            if self.tool:  # the arguments are made first, then sent whole
                arguments = "".join(text for text, _ in self.steps())
                if not self.cancelled:
                    delta = {"tool_calls": [self._call(arguments, True)]}
                    yield event({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                    self.finish = "tool_calls" if self.finish == "stop" else self.finish
            else:
                for text, entries in self.steps():
                    yield event({**head, "choices": [self._choice(text, entries)]})
            if not self.cancelled:
                last = {"index": 0, "delta": {}} if self.kind == "chat" else {"index": 0, "text": ""}
                yield event({**head, "choices": [{**last, "finish_reason": self.finish}], **self._usage()})
        except Exception as exc:  # a failed llama.cpp step: an error event, as Cerebras sends mid-stream
            yield event({"error": {"message": f"the local model failed: {exc}", "type": "server_error",
                                   "code": "local_model_error"}, "status_code": 500})


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An SSE body made one token per read. Closing it stops the model at once (after a running step)."""

    def __init__(self, job: _Job):
        self.job, self._events, self._turn = job, job.sse(), threading.Lock()

    def _next(self) -> Optional[bytes]:
        with self._turn:
            return None if self.job.cancelled else next(self._events, None)

    def __iter__(self):
        while (chunk := self._next()) is not None:
            yield chunk

    async def __aiter__(self):
        while (chunk := await asyncio.to_thread(self._next)) is not None:  # the event loop stays free
            yield chunk

    def close(self) -> None:
        self.job.cancelled = True
        with self._turn:
            self._events.close()

    async def aclose(self) -> None:
        self.job.cancelled = True
        await asyncio.to_thread(self.close)


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers the Cerebras API in-process from the local model; one object serves Client and AsyncClient.

    The model loads once per process, on the first request that needs it (`on_load(seconds)` is then
    called). `tokens_generated` counts every token this transport sampled (tests watch it stop on close)."""

    def __init__(self, model_path: Optional[os.PathLike] = None, n_ctx: int = 2048, n_threads: Optional[int] = None,
                 on_load=None):
        self.model_path, self.n_ctx, self.on_load = Path(model_path) if model_path else None, n_ctx, on_load
        self.n_threads = n_threads or max(1, min(8, os.cpu_count() or 1))
        self.tokens_generated = 0

    def _key(self) -> tuple:
        path = self.model_path or model_path()
        if path is None:
            raise HTTPError(503, {"message": f"the local model is not installed: {INSTALL_HINT}",
                                   "type": "server_error", "code": "local_model_missing"})
        return str(path), self.n_ctx, self.n_threads

    @property
    def load_seconds(self) -> Optional[float]:
        """Seconds the model took to load, or None while it is not loaded."""
        path = self.model_path or model_path()
        found = path and loaded_model((str(path), self.n_ctx, self.n_threads))
        return found.load_seconds if found else None

    def model(self) -> Model:
        return shared_model(self._key(), self.on_load)

    def _model_card(self) -> dict:
        path = self.model_path or model_path()
        return {"id": MODEL_ID, "object": "model", "created": int(path.stat().st_mtime) if path else 0,
                "owned_by": "local"}

    def _prepare(self, method: str, path: str, raw: bytes, arrived: tuple):
        """A finished response (models, errors), or the job a completion request asks for."""
        path = "/" + path.strip("/")
        path = path if path.startswith("/v1/") else "/v1" + path  # OpenAI-style bases end in /v1, ours may not
        try:
            if path == "/v1/tcp_warming":
                return httpx.Response(200, json={})
            if path == "/v1/models" or path.startswith("/v1/models/"):
                if method != "GET":
                    raise HTTPError(405, wire.METHOD_NOT_ALLOWED)
                if path == "/v1/models":
                    return httpx.Response(200, json={"object": "list", "data": [self._model_card()]})
                if path[len("/v1/models/"):] != MODEL_ID:
                    raise HTTPError(404, wire.MODEL_NOT_FOUND)
                return httpx.Response(200, json=self._model_card())
            kind = wire.KIND_OF_PATH.get(path)
            if kind is None:
                raise HTTPError(404, wire.NOT_FOUND_ROUTE)
            if method != "POST":
                raise HTTPError(405, wire.METHOD_NOT_ALLOWED)
            body = validate(kind, raw)
            if body["model"] != MODEL_ID:  # as Cerebras: an id it does not serve is a 404, not another model
                raise HTTPError(404, wire.MODEL_NOT_FOUND)
            return _Job(self, self.model(), kind, body, arrived)
        except HTTPError as exc:
            return httpx.Response(exc.status, json=exc.body)

    @staticmethod
    def _finish(job: _Job) -> httpx.Response:
        if job.stream:
            return httpx.Response(200, headers=SSE_HEADERS, stream=_Body(job))
        try:
            return httpx.Response(200, json=job.complete())
        except RuntimeError as exc:  # llama_decode failed
            return httpx.Response(500, json={"message": f"the local model failed: {exc}", "type": "server_error",
                                             "code": "local_model_error"})

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        got = self._prepare(request.method, request.url.path, request.read(), (time.perf_counter(), time.time()))
        return got if isinstance(got, httpx.Response) else self._finish(got)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        arrived, raw = (time.perf_counter(), time.time()), await request.aread()
        got = await asyncio.to_thread(self._prepare, request.method, request.url.path, raw, arrived)
        if isinstance(got, httpx.Response):
            return got
        if got.stream:
            return self._finish(got)
        try:
            return await asyncio.to_thread(self._finish, got)
        except asyncio.CancelledError:
            got.cancelled = True  # the worker stops at its next token
            raise
