"""HTTP clients for the Cerebras API (and any OpenAI-compatible server).

`_Core` holds everything that is not I/O: configuration, request building and validation, retry
decisions, error and chunk parsing. `Client` and `AsyncClient` only move bytes, so the two can never
drift apart. Retries happen only before a response body starts; a stream is never replayed.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
from typing import Any, Optional, Union

import httpx
from pydantic import ValidationError

from .. import _errors as E
from ._routing import http_client_for, missing_key_error, pick_model, route
from ._streaming import AsyncStream, Stream
from .._wire import PATHS
from ._types import (ChatCompletion, ChatCompletionChunk, ChatRequest, Completion, CompletionChunk,
                    CompletionRequest, Model, ModelList, RateLimit)

log = logging.getLogger("cerebras_magic")

RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))

_KINDS = {  # endpoint -> (path, request model, response model, chunk model)
    "chat": (PATHS["chat"], ChatRequest, ChatCompletion, ChatCompletionChunk),
    "completion": (PATHS["completion"], CompletionRequest, Completion, CompletionChunk),
}


def backoff_delay(attempt: int, headers=None) -> float:
    """The official SDK's schedule: Retry-After(-ms) when 0 < value <= 60 s, else jittered exponential."""
    headers = headers or {}
    value = None
    try:
        if headers.get("retry-after-ms") is not None:
            value = float(headers["retry-after-ms"]) / 1000
        elif headers.get("retry-after") is not None:
            raw = headers["retry-after"]
            try:
                value = float(raw)
            except ValueError:
                when = email.utils.parsedate_to_datetime(raw)
                value = when.timestamp() - time.time()
    except (TypeError, ValueError):
        value = None
    if value is not None and 0 < value <= 60:
        return value
    return min(0.5 * 2 ** attempt, 8.0) * (1 - 0.25 * random.random())


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in ("", "application/json") or kind.endswith("+json")


class _Core:
    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *, backend: str = "auto",
                 model: Optional[str] = None, timeout: Union[float, httpx.Timeout, None] = 60.0,
                 max_retries: int = 2, default_headers: Optional[dict] = None):
        key = api_key if api_key is not None else os.environ.get("CEREBRAS_API_KEY")
        self._api_key = key or None
        self.route = route(backend, self._api_key is not None, base_url or os.environ.get("CEREBRAS_BASE_URL"))
        self.backend, self.base_url = self.route.backend, self.route.base_url
        self._model = model
        self._picked: Optional[str] = None  # the server's first choice, once asked
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) or timeout is None else httpx.Timeout(timeout, connect=5.0)
        self.max_retries = max_retries
        self.default_headers = dict(default_headers or {})

    def __repr__(self) -> str:
        key = "set" if self._api_key else "unset"
        return (f"{type(self).__name__}(backend={self.backend!r}, base_url={self.base_url!r}, "
                f"model={self.default_model!r}, api_key={key})")

    @property
    def default_model(self) -> Optional[str]:
        """The model for a request that names none: the one given, the local model, or the server's first
        choice once its list was read (`choose_model()`); None until then."""
        return self._model or self.route.local_model or self._picked

    def _pick(self, ids: list) -> str:
        picked = pick_model(ids)
        if picked is None:
            raise E.ParameterError(f"{self.base_url} lists no models: name one with model=...")
        self._picked = picked
        return picked

    @property
    def label(self) -> str:
        """Who answers, for footers and history rows."""
        return self.route.label

    @property
    def has_key(self) -> bool:
        return self._api_key is not None

    @property
    def loading_note(self) -> Optional[str]:
        """A line to show before a request that will first have to load a model (the local one), else None."""
        return self.route.loading_note

    # -- request building (shared) --------------------------------------------------------------
    def build(self, kind: str, first: Any, params: dict):
        """Validate the call's parameters into a request model (ParameterError on bad input)."""
        path, req_model, _, _ = _KINDS[kind]
        params = {k: v for k, v in params.items() if v is not None}
        if not params.get("model"):
            params["model"] = self.default_model
        if kind == "chat":
            params["messages"] = [{"role": "user", "content": first}] if isinstance(first, str) else first
        else:
            params["prompt"] = first
        return req_model.build(**params)

    @staticmethod
    def typed(kind: str, params: dict, extra_body: Optional[dict]) -> tuple:
        """Fields of extra_body that the request model knows are checked like any parameter (a typo in
        `--param service_tier=...` is one line before sending); the others go as they are."""
        if not extra_body:
            return params, extra_body
        known = _KINDS[kind][1].model_fields
        typed = {k: v for k, v in extra_body.items() if k in known and k not in params}
        rest = {k: v for k, v in extra_body.items() if k not in typed}
        return {**params, **typed}, rest or None

    def headers(self, extra: Optional[dict] = None, *, redacted: bool = False, anonymous: bool = False) -> dict:
        h = {"Accept": "application/json", "User-Agent": "cerebras-magic/0.1", **self.default_headers, **(extra or {})}
        if anonymous:
            return h
        if self._api_key:
            h["Authorization"] = "Bearer ***" if redacted else f"Bearer {self._api_key}"
        elif self.route.needs_key:
            raise missing_key_error()
        return h

    def body(self, req, stream: bool, extra_body: Optional[dict]) -> dict:
        body = req.to_json()
        body["stream"] = stream
        body.update(extra_body or {})
        return body

    def post(self, kind: str, first: Any, stream: bool, extra_headers, extra_body, params: dict):
        """(the httpx request, 'POST /v1/...', response model, chunk model): everything but sending it."""
        path, _, response_model, chunk_model = _KINDS[kind]
        params, extra_body = self.typed(kind, params, extra_body)
        req = self.build(kind, first, params)
        request = self._http.build_request("POST", self.base_url + path, headers=self.headers(extra_headers),
                                           json=self.body(req, stream, extra_body))
        return request, f"POST {path}", response_model, chunk_model

    def dump_request(self, kind: str, first: Any, *, stream: bool = True, extra_body=None, extra_headers=None,
                     **params) -> dict:
        """The exact request that would be sent, with the key redacted (for --dry-run and debugging)."""
        headers = self.headers(extra_headers, redacted=True)  # a missing key is the first thing to say
        params, extra_body = self.typed(kind, params, extra_body)
        req = self.build(kind, first, params)
        return {"method": "POST", "url": self.base_url + _KINDS[kind][0], "headers": headers,
                "json": self.body(req, stream, extra_body)}

    # -- response handling (shared) -------------------------------------------------------------
    def status_error(self, response: httpx.Response, raw: bytes, where: str) -> E.APIStatusError:
        return E.status_error(response.status_code, raw, where=where, headers=response.headers, secret=self._api_key)

    def transport_error(self, exc: Exception, where: str) -> E.APIConnectionError:
        cls = E.APITimeoutError if isinstance(exc, httpx.TimeoutException) else E.APIConnectionError
        reason = E.redact(str(exc) or type(exc).__name__, self._api_key)
        return cls(f"{where} at {self.base_url} failed: {reason}. {cls.hint[0].upper()}{cls.hint[1:]}.")

    def retry_delay(self, err: E.CerebrasError, attempt: int) -> Optional[float]:
        if attempt >= self.max_retries:
            return None
        headers = err.headers if isinstance(err, E.APIStatusError) else {}
        verdict = str(headers.get("x-should-retry", "")).lower()
        if verdict == "false":
            return None
        if verdict != "true" and isinstance(err, E.APIStatusError) and err.status_code not in RETRY_STATUSES:
            return None
        return backoff_delay(attempt, headers)

    def parse(self, model, raw: bytes, response: httpx.Response, where: str):
        obj = None
        if _is_json(response):
            try:
                obj = model.model_validate_json(raw)
            except ValidationError:
                pass
        if obj is None:  # raised outside the handler: the error keeps no link to the body it failed on
            raise self.unexpected(response, raw, where, "the JSON response")
        if "ratelimit" in type(obj).model_fields:
            obj.ratelimit = RateLimit.from_headers(response.headers)
        return obj

    def event_error(self, extra: dict, where: str) -> E.APIStatusError:
        """An error event inside a stream (HTTP 200) -> the typed error for its status_code."""
        err = extra["error"]
        return E.status_error(int(extra.get("status_code") or 500), err if isinstance(err, dict) else {"message": str(err)},
                              where=where, secret=self._api_key, in_stream=True)

    def unexpected(self, response: httpx.Response, raw: bytes, where: str, wanted: str) -> E.UnexpectedResponseError:
        """A 2xx body that is not what the request asked for: say its content type and first line."""
        kind = response.headers.get("content-type") or "no content type"
        text = raw.decode("utf-8", "replace").strip()
        first = E.redact(text.splitlines()[0][:100] if text else "(empty body)", self._api_key)
        hint = E.UnexpectedResponseError.hint
        return E.UnexpectedResponseError(f"{where} at {self.base_url} answered {response.status_code} with {kind} "
                                         f"instead of {wanted}; its first line: {first!r}. {hint[0].upper()}{hint[1:]}.")

    def broken_stream(self, exc: Exception, where: str, count: int) -> E.CerebrasError:
        """A stream that stopped before its end: a timeout is the client's timeout, anything else a StreamError."""
        if isinstance(exc, httpx.TimeoutException):
            return self.transport_error(exc, f"{where} (after {count} chunks)")
        reason = E.redact(str(exc) or type(exc).__name__, self._api_key)
        return E.StreamError(f"the stream of {where} broke after {count} chunks: {reason}")


class Client(_Core):
    """Synchronous client. `chat`/`complete` return a typed response, or a `Stream` with stream=True."""

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *,
                 http_client: Optional[httpx.Client] = None, **options):
        super().__init__(api_key, base_url, **options)
        self._http = http_client or http_client_for(self.route, self.timeout)

    def chat(self, messages, *, stream: bool = False, extra_headers=None, extra_body=None, **params):
        return self._call("chat", messages, stream, extra_headers, extra_body, params)

    def complete(self, prompt, *, stream: bool = False, extra_headers=None, extra_body=None, **params):
        return self._call("completion", prompt, stream, extra_headers, extra_body, params)

    def models(self) -> list:
        return self._get("/v1/models", ModelList).data

    def model(self, model_id: str) -> Model:
        return self._get(f"/v1/models/{model_id}", Model)

    def public_models(self) -> list:
        """The public catalogue (no key needed): names, prices, limits, capabilities; [] where there is none."""
        return self._get("/public/v1/models", ModelList, auth=False).data

    def choose_model(self) -> str:
        """The model for a request that names none (see `default_model`), asking the server once."""
        return self.default_model or self._pick([m.id for m in self.models()])

    def _get(self, path: str, model, auth: bool = True):
        where = f"GET {path}"
        headers = self.headers() if auth else self.headers(anonymous=True)
        response = self._send(self._http.build_request("GET", self.base_url + path, headers=headers), where)
        raw = self._read(response, where)
        return self.parse(model, raw, response, where)

    def _call(self, kind, first, stream, extra_headers, extra_body, params):
        if not params.get("model"):
            params["model"] = self.choose_model()
        request, where, response_model, chunk_model = self.post(kind, first, stream, extra_headers, extra_body, params)
        started = time.perf_counter()
        response = self._send(request, where)
        if stream:
            return Stream(self, response, chunk_model, where, started, response_model)
        return self.parse(response_model, self._read(response, where), response, where)

    def _read(self, response: httpx.Response, where: str) -> bytes:
        try:
            return response.read()
        except httpx.HTTPError as exc:
            err = self.transport_error(exc, where)
        finally:
            response.close()
        raise err  # outside the handler: the error keeps no link to httpx's (which holds the request headers)

    def _send(self, request: httpx.Request, where: str) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                err = self.transport_error(exc, where)
            else:
                if response.status_code < 400:
                    return response
                err = self.status_error(response, self._read(response, where), where)
            delay = self.retry_delay(err, attempt)
            log.debug("%s failed (%s); retry in %s", where, type(err).__name__, delay)
            if delay is None:
                raise err
            attempt += 1
            time.sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncClient(_Core):
    """The async twin of `Client`: same arguments, awaitable methods, `AsyncStream` with stream=True."""

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *,
                 http_client: Optional[httpx.AsyncClient] = None, **options):
        super().__init__(api_key, base_url, **options)
        self._http = http_client or http_client_for(self.route, self.timeout, asynchronous=True)

    async def chat(self, messages, *, stream: bool = False, extra_headers=None, extra_body=None, **params):
        return await self._call("chat", messages, stream, extra_headers, extra_body, params)

    async def complete(self, prompt, *, stream: bool = False, extra_headers=None, extra_body=None, **params):
        return await self._call("completion", prompt, stream, extra_headers, extra_body, params)

    async def models(self) -> list:
        return (await self._get("/v1/models", ModelList)).data

    async def model(self, model_id: str) -> Model:
        return await self._get(f"/v1/models/{model_id}", Model)

    async def public_models(self) -> list:
        return (await self._get("/public/v1/models", ModelList, auth=False)).data

    async def choose_model(self) -> str:
        return self.default_model or self._pick([m.id for m in await self.models()])

    async def _get(self, path: str, model, auth: bool = True):
        where = f"GET {path}"
        headers = self.headers() if auth else self.headers(anonymous=True)
        response = await self._send(self._http.build_request("GET", self.base_url + path, headers=headers), where)
        raw = await self._read(response, where)
        return self.parse(model, raw, response, where)

    async def _call(self, kind, first, stream, extra_headers, extra_body, params):
        if not params.get("model"):
            params["model"] = await self.choose_model()
        request, where, response_model, chunk_model = self.post(kind, first, stream, extra_headers, extra_body, params)
        started = time.perf_counter()
        response = await self._send(request, where)
        if stream:
            return AsyncStream(self, response, chunk_model, where, started, response_model)
        return self.parse(response_model, await self._read(response, where), response, where)

    async def _read(self, response: httpx.Response, where: str) -> bytes:
        try:
            return await response.aread()
        except httpx.HTTPError as exc:
            err = self.transport_error(exc, where)
        finally:
            await response.aclose()
        raise err

    async def _send(self, request: httpx.Request, where: str) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                err = self.transport_error(exc, where)
            else:
                if response.status_code < 400:
                    return response
                err = self.status_error(response, await self._read(response, where), where)
            delay = self.retry_delay(err, attempt)
            log.debug("%s failed (%s); retry in %s", where, type(err).__name__, delay)
            if delay is None:
                raise err
            attempt += 1
            await asyncio.sleep(delay)

    def on_response(self, hook) -> None:
        """Await `hook(response)` as each response's headers arrive, a retried 429 included: the batch
        scheduler learns the rate limits from them, and slows down at the first 429, not the last."""
        hooks = self._http.event_hooks
        hooks["response"] = [*hooks.get("response", []), hook]
        self._http.event_hooks = hooks

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
