"""`FakeServer`: a real HTTP/1.1 server on loopback (keep-alive, chunked SSE) imitating api.cerebras.ai, so
clients are tested through their real transport rather than through mocks. Request handling is in handler.py."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from . import api
from .cache import TTL, PromptCache
from .faults import Fault, parse
from .handler import COMPLETION_PATHS, Handler
from .ratelimit import RateLimits


@dataclass
class RecordedRequest:
    """One request as the server saw it; readable as attributes or as a dict (`req["json"]`)."""
    method: str
    path: str
    headers: dict
    json: object
    body: bytes = b""
    query: str = ""
    time: float = field(default_factory=time.time)

    def __getitem__(self, key: str):
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key, default)


class FakeServer:
    """A local stand-in for api.cerebras.ai; see the package docstring for options and fault specs."""

    def __init__(self, api_key: str | None = "test-key", tokens_per_second: float | None = 2000.0,
                 ttft: float = 0.1, done: bool = False, firehose: bool = False, models=None, port: int = 0,
                 host: str = "127.0.0.1", requests_per_day: int = 1_000_000, tokens_per_minute: int = 100_000_000,
                 requests_per_minute: int | None = None, uncached_tokens_per_minute: int | None = None,
                 cache_ttl: float = TTL, continue_final_message: bool = True, echo_null: bool = False):
        self.api_key, self.tokens_per_second, self.ttft = api_key, tokens_per_second, ttft
        self.done, self.firehose, self.continue_final_message = done, firehose, continue_final_message
        self.echo_null = echo_null
        self.models = list(models) if models else list(api.DEFAULT_MODELS)
        self.host, self.port = host, port
        self.limits = RateLimits(requests_per_day, tokens_per_minute, requests_per_minute, uncached_tokens_per_minute)
        self.cache = PromptCache(cache_ttl)
        self.requests: list[RecordedRequest] = []
        self._defaults = dict(api_key=api_key, tokens_per_second=tokens_per_second, ttft=ttft, done=done,
                              firehose=firehose, models=list(self.models),
                              continue_final_message=continue_final_message, echo_null=echo_null)
        self._queue: list[list] = []
        self._lock = threading.Lock()
        self._connections: set = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Root URL without /v1 (OpenAI-style clients want base_url + "/v1")."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FakeServer":
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), Handler)
            self._httpd.fake = self
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"FakeServer:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # wake keep-alive and streaming handler threads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fault(self, spec: str, times: int = 1) -> None:
        """Queue a fault for the next `times` completion requests (all requests with ";all")."""
        parsed = parse(spec)
        with self._lock:
            self._queue.append([parsed, times])

    def clear_faults(self) -> None:
        with self._lock:
            self._queue.clear()

    def reset(self) -> None:
        """Back to the constructor's settings: no faults, no recorded requests, full rate buckets, an empty
        prompt cache."""
        self.clear_faults()
        self.requests.clear()
        self.limits.refill_all()
        self.cache.clear()
        for key, value in self._defaults.items():
            setattr(self, key, list(value) if isinstance(value, list) else value)

    def _record(self, *fields) -> None:
        self.requests.append(RecordedRequest(*fields))

    def _take_fault(self, path: str, header_spec: str | None) -> Fault:
        fault = Fault()
        with self._lock:
            if self._queue and (path in COMPLETION_PATHS or self._queue[0][0].all_paths):
                fault = self._queue[0][0]
                self._queue[0][1] -= 1
                if self._queue[0][1] <= 0:
                    self._queue.pop(0)
        return fault.merge(parse(header_spec)) if header_spec else fault


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # socketserver's 5 resets a batch's burst of new connections; real servers queue them
    fake: FakeServer
