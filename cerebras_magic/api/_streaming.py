"""Streams of typed chunks over an open HTTP response, sync and async.

Both share the decoding (`_StreamBase`); only the loop over the body differs. Nothing here retries: once
a body has started, a failure is a StreamError (the partial answer is the caller's to keep), or the
client's APITimeoutError when a read timed out. A body that is not an event stream is looked at, not
parsed as one: a whole JSON answer (a server that ignored stream=true) is folded in as one chunk, and
anything else (an HTML page from a proxy) is an UnexpectedResponseError.
"""
from __future__ import annotations

import time
from typing import AsyncIterator, Iterator, Optional

import httpx
from pydantic import ValidationError

from .. import _errors as E
from ._envelope import Envelope
from ._sse import DONE, SSEDecoder
from ._types import RateLimit


class _StreamBase:
    """What sync and async streams share: reads -> payloads -> typed chunks, rate limits, timing marks.

    The hot path keeps only bytes in flight between reads (payloads are not tracked by the garbage
    collector); each chunk object is built and handed out one at a time. A list of a read's ~100 chunk
    objects would outlive a young-generation collection and cost ~35% of stream time in older ones."""

    def __init__(self, core, response: httpx.Response, chunk_model, where: str, started: float,
                 response_model=None):
        self._core, self.response, self._model, self.where = core, response, chunk_model, where
        self._whole_model = response_model
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        # what the body is: an event stream (also when unlabelled), one whole JSON answer from a server that
        # ignored stream=true, or something else entirely (read to say what it is, never parsed as events)
        self._body_kind = ("events" if kind in ("", "text/event-stream") else
                           "json" if kind == "application/json" or kind.endswith("+json") else "other")
        self._stray = b""  # bytes of an unlabelled body that held no event
        self._dec = SSEDecoder()
        self._validate = chunk_model.__pydantic_validator__.validate_json
        self._envelope: Optional[Envelope] = None
        self.ratelimit = RateLimit.from_headers(response.headers)
        self.started_at = started          # perf_counter when the request was sent
        self.headers_at = time.perf_counter()
        self.first_byte_at: Optional[float] = None
        self.chunks = 0

    def _payloads(self, raw: Optional[bytes]) -> list:
        """The data payloads one network read completed (None: the end of the body)."""
        if raw is None:
            found = [ev.data for ev in self._dec.close()]
            if not found and not self.chunks and self._stray.strip():
                raise self._core.unexpected(self.response, self._stray, self.where, "the event stream")
            return found
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        found = self._dec.feed_data(raw)
        if not found and not self.chunks and len(self._stray) < 4096:
            self._stray += raw
        return found

    def _whole(self, raw: bytes):
        """The body of a response that is not an event stream: one whole JSON answer folds in as a single
        chunk; anything else is an UnexpectedResponseError naming its content type and first line."""
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        obj = None
        if self._body_kind == "json" and self._whole_model is not None:
            try:
                obj = self._whole_model.model_validate_json(raw)
            except ValidationError:
                obj = None
        if obj is None:
            raise self._core.unexpected(self.response, raw, self.where, "the event stream")
        self.chunks += 1
        return obj

    def _chunk(self, data: bytes):
        """One payload -> a typed chunk; None at [DONE]; the typed error for an error event.

        Most payloads differ from the last validated one only in their text: those are built from it
        (envelope.py); the rest are validated in full, and become the next envelope if they can."""
        envelope = self._envelope
        if envelope is not None:
            obj = envelope.build(data)
            if obj is not None:
                self.chunks += 1
                return obj
        if data == DONE:
            return None
        try:  # the validator itself: model_validate_json's Python wrapper costs ~20% per chunk
            obj = self._validate(data)
        except ValidationError:
            obj = None
        if obj is None:  # raised outside the handler, so the error holds no reference to the failed input
            raise E.StreamError(f"malformed chunk #{self.chunks + 1} in the stream of {self.where}: "
                                f"{E.redact(repr(data[:80]), self._core._api_key)}")
        if obj.__pydantic_extra__ and obj.__pydantic_extra__.get("error"):
            raise self._core.event_error(obj.__pydantic_extra__, self.where)
        self._envelope = Envelope.learn(data, obj) or envelope  # an escaped text keeps the last one
        self.chunks += 1
        return obj

    def _broken(self, exc: Exception) -> E.CerebrasError:
        return self._core.broken_stream(exc, self.where, self.chunks)


class Stream(_StreamBase):
    """Iterator of typed chunks; closing it (or breaking out, or Ctrl-C) closes the connection."""

    def __iter__(self) -> Iterator:
        chunk, err = self._chunk, None
        try:
            if self._body_kind != "events":
                yield self._whole(self.response.read())
                return
            for raw in self.response.iter_bytes():
                for data in self._payloads(raw):
                    obj = chunk(data)
                    if obj is None:
                        return
                    yield obj
            for data in self._payloads(None):
                obj = chunk(data)
                if obj is None:
                    return
                yield obj
        except (httpx.HTTPError, httpx.StreamError) as exc:  # StreamError: closed by Stop or close()
            err = self._broken(exc)
        finally:
            self._envelope = None  # its shared choices go with the stream, not with whoever keeps it
            self.response.close()
        if err is not None:  # raised outside the handler: it keeps no link to httpx's (which holds the request)
            raise err

    def close(self) -> None:
        self.response.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncStream(_StreamBase):
    """Async iterator of typed chunks; `aclose()` (or cancelling the task) closes the connection."""

    async def __aiter__(self) -> AsyncIterator:
        chunk, err = self._chunk, None
        try:
            if self._body_kind != "events":
                yield self._whole(await self.response.aread())
                return
            async for raw in self.response.aiter_bytes():
                for data in self._payloads(raw):
                    obj = chunk(data)
                    if obj is None:
                        return
                    yield obj
            for data in self._payloads(None):
                obj = chunk(data)
                if obj is None:
                    return
                yield obj
        except (httpx.HTTPError, httpx.StreamError) as exc:
            err = self._broken(exc)
        finally:
            self._envelope = None
            await self.response.aclose()
        if err is not None:
            raise err

    async def aclose(self) -> None:
        await self.response.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
