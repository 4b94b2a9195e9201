"""HTTP request handling for the fake server: routing, auth, validation, and writing JSON or chunked SSE
(paced by the clock, batched in firehose mode, or trickled for fault tests)."""
from __future__ import annotations

import json
import socket
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from .. import _wire as wire
from . import api
from .faults import Fault, echoed_key_response, error_response, shape_stream, trickle_pieces
from .ratelimit import retry_headers
from .render import events, render
from .respond import plan_chat, plan_completion
from .tools import malformed

COMPLETION_PATHS = wire.KIND_OF_PATH
BATCH_BYTES = 64 * 1024
_INVALID = object()


class Handler(BaseHTTPRequestHandler):
    """One connection; `self.server.fake` is the FakeServer with settings, faults and records."""
    protocol_version = "HTTP/1.1"
    server_version = "fake-cerebras/0.1"
    timeout = 300

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def handle(self):
        try:
            super().handle()
        except OSError:  # the client went away (reset, or stop() shut the socket): nothing to report
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.server.fake._lock:
            self.server.fake._connections.discard(self.connection)

    def log_message(self, format, *args):  # quiet: tests and notebooks do not want access logs
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self):
        try:
            self._route()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake: say so loudly instead of hanging the client
            traceback.print_exc()
            self.close_connection = True
            try:
                self._json(500, {"message": f"fake server bug: {exc!r}", "type": "fake_server_error",
                                 "code": "fake_server_bug"})
            except OSError:
                pass

    # ---- plumbing -------------------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if not size:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _send(self, status: int, body: bytes, headers: dict | None = None, api_headers: bool = True):
        self.send_response(status)
        merged = {"content-type": "application/json", **(headers or {})}
        if api_headers:
            merged = {**self.server.fake.limits.headers(), "x-request-id": str(uuid.uuid4()), **merged}
        for key, value in merged.items():
            if value is not None:
                self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None, api_headers: bool = True):
        self._send(status, json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode(), headers,
                   api_headers)

    def _drop(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    # ---- routing --------------------------------------------------------------------------------------------
    def _route(self):
        fake = self.server.fake
        path, _, query = self.path.partition("?")
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = _INVALID
        fake._record(self.command, path, headers, None if body is _INVALID else body, raw, query)
        try:
            fault = fake._take_fault(path, headers.get("x-fake-fault"))
        except ValueError as exc:
            return self._json(400, wire.bad_request(f"x-fake-fault: {exc}")[1])
        if fault.slow:
            time.sleep(fault.slow)
        if fault.echo_key is not None:
            status, extra, data = echoed_key_response(fault, headers.get("authorization"))
            return self._send(status, data, extra)
        if fault.status is not None:
            status, extra, data = error_response(fault)
            return self._send(status, data, extra)
        streaming = isinstance(body, dict) and bool(body.get("stream"))
        if fault.drop is not None and not (streaming and path in COMPLETION_PATHS):
            return self._drop()
        get = self.command in ("GET", "HEAD")
        if path == "/v1/tcp_warming" and get:
            return self._json(200, {}, api_headers=False)
        if path.startswith("/public/v1/models") and get:
            return self._models(path[len("/public"):], api.public_model)
        if not (path.startswith("/v1/") and (path in COMPLETION_PATHS or path.startswith("/v1/models"))):
            return self._json(404, wire.NOT_FOUND_ROUTE)
        auth = self._auth_error(headers.get("authorization"))
        if auth:
            return self._json(*auth)
        if path.startswith("/v1/models"):
            if not get:
                return self._json(405, wire.METHOD_NOT_ALLOWED)
            shape = api.FORMATS.get((parse_qs(query).get("format") or ["default"])[0])
            if shape is None:
                detail = {"loc": ["query", "format"], "msg": "Input should be 'default', 'openrouter' or "
                          "'huggingface'", "type": "literal_error"}
                return self._json(422, {"detail": [detail]})
            return self._models(path, shape)
        if self.command != "POST":
            return self._json(405, wire.METHOD_NOT_ALLOWED)
        self._complete(COMPLETION_PATHS[path], body, fault, headers)

    def _auth_error(self, header: str | None):
        if not header:
            return 403, wire.NOT_AUTHENTICATED
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 403, {"detail": "Invalid authentication credentials"}
        expected = self.server.fake.api_key
        if expected is not None and token.strip() != expected:
            return 401, wire.WRONG_KEY
        return None

    def _models(self, path: str, shape):
        models = self.server.fake.models
        if path.rstrip("/") == "/v1/models":
            return self._json(200, {"object": "list", "data": [shape(m) for m in models]})
        model = path[len("/v1/models/"):]
        if model in models:
            return self._json(200, shape(model))
        return self._json(404, wire.MODEL_NOT_FOUND)

    def _complete(self, kind: str, body, fault: Fault, headers: dict):
        fake = self.server.fake
        patch = headers.get(wire.VERSION_HEADER)
        version = wire.DEFAULT_VERSION_PATCH if patch is None else int(patch) if patch.strip().isdigit() else None
        if version not in wire.VERSION_PATCHES:
            return self._json(*wire.bad_request(f"X-Cerebras-Version-Patch must be 1 or 2, got {patch!r}."))
        error = wire.bad_request("Request body is not valid JSON.") if body is _INVALID else \
            wire.validate(kind, body, version)
        if error:
            return self._json(*error)
        if body["model"] not in fake.models:
            return self._json(404, wire.MODEL_NOT_FOUND)
        if kind == "chat":
            plan = plan_chat(body, version_patch=version,
                             continue_final=_switch(headers.get("x-fake-continue"), fake.continue_final_message))
        else:
            plan = plan_completion(body, echo_null=_switch(headers.get("x-fake-echo-null"), fake.echo_null))
        if fault.bad_tool_args:
            for call in (call for c in plan.choices for call in c.tool_calls):
                call["function"]["arguments"] = malformed(call["function"]["arguments"])
        cached = fake.cache.hits(plan.model, plan.prompt_ids)
        cost = plan.prompt_tokens + (plan.limit if plan.limit is not None else plan.completion_tokens)
        refused = fake.limits.charge(cost, cost - cached)
        if refused:
            which, wait = refused
            return self._json(429, wire.REQUESTS_EXCEEDED if which == "requests" else wire.TOKENS_EXCEEDED,
                              retry_headers(wait))
        fake.cache.store(plan.model, plan.prompt_ids)
        plan.cached_tokens = cached
        pace = None if fake.firehose else fake.tokens_per_second
        if pace and fake.ttft:
            time.sleep(fake.ttft)
        if not body.get("stream") or fault.ignore_stream:
            if pace:
                time.sleep(plan.completion_tokens / pace)
            return self._json(200, render(plan, fake.tokens_per_second))
        done = _switch(headers.get("x-fake-done"), fake.done)
        dues, framed, drop = shape_stream(*events(plan, fake.tokens_per_second, fault.split_tool_calls), fault, done)
        self.send_response(200)
        for key, value in {**fake.limits.headers(), "x-request-id": str(uuid.uuid4()),
                           "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache",
                           "transfer-encoding": "chunked"}.items():
            self.send_header(key, value)
        self.end_headers()
        if fault.stall is not None:
            for event in framed[:fault.stall]:
                self._chunk(event)
            self.wfile.flush()
            time.sleep(fault.stall_seconds)
            dues, framed = dues[fault.stall:], framed[fault.stall:]
        if fault.trickle:
            for piece in trickle_pieces(b"".join(framed)):
                self._chunk(piece)
                time.sleep(0.002)
        elif fake.firehose:
            batch, size = [], 0
            for event in framed:
                batch.append(event)
                size += len(event)
                if size >= BATCH_BYTES:
                    self._chunk(b"".join(batch))
                    batch, size = [], 0
            if batch:
                self._chunk(b"".join(batch))
        elif not pace:
            for event in framed:
                self._chunk(event)
        else:
            self._paced(dues, framed, pace)
        if drop:
            return self._drop()
        self.wfile.write(b"0\r\n\r\n")

    def _paced(self, dues: list[int], framed: list[bytes], pace: float):
        """Emit every event that is due, then sleep ~5 ms: clock-driven, so the rate stays exact."""
        start, i, n = time.monotonic(), 0, len(framed)
        while i < n:
            ready = (time.monotonic() - start) * pace
            j = i
            while j < n and dues[j] <= ready:
                j += 1
            if j > i:
                self._chunk(b"".join(framed[i:j]))
                i = j
            if i < n:
                time.sleep(max(0.005, dues[i] / pace - (time.monotonic() - start)))


def _switch(header: str | None, default: bool) -> bool:
    """A per-request x-fake-* on/off header (1|0, true|false, yes|no) over the server's setting."""
    return default if header is None else header.strip().lower() in ("1", "true", "yes")
