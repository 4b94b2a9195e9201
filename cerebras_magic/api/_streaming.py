"""Streams of typed chunks over an open HTTP response, sync and async.

Both share the decoding (`_StreamBase`); only the loop over the body differs. Nothing here retries: once
a body has started, a failure is a StreamError (the partial answer is the caller's to keep).
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

    def __init__(self, core, response: httpx.Response, chunk_model, where: str, started: float):
        self._core, self.response, self._model, self.where = core, response, chunk_model, where
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
            return [ev.data for ev in self._dec.close()]
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        return self._dec.feed_data(raw)

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
            raise E.StreamError(f"malformed chunk #{self.chunks + 1} in the stream of {self.where}: "
                                f"{data[:80]!r}") from None
        if obj.__pydantic_extra__ and obj.__pydantic_extra__.get("error"):
            raise self._core.event_error(obj.__pydantic_extra__, self.where)
        self._envelope = Envelope.learn(data, obj) or envelope  # an escaped text keeps the last one
        self.chunks += 1
        return obj

    def _broken(self, exc: Exception) -> E.StreamError:
        return self._core.broken_stream(exc, self.where, self.chunks)


class Stream(_StreamBase):
    """Iterator of typed chunks; closing it (or breaking out, or Ctrl-C) closes the connection."""

    def __iter__(self) -> Iterator:
        chunk = self._chunk
        try:
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
            raise self._broken(exc) from None
        finally:
            self._envelope = None  # its shared choices go with the stream, not with whoever keeps it
            self.response.close()

    def close(self) -> None:
        self.response.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncStream(_StreamBase):
    """Async iterator of typed chunks; `aclose()` (or cancelling the task) closes the connection."""

    async def __aiter__(self) -> AsyncIterator:
        chunk = self._chunk
        try:
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
            raise self._broken(exc) from None
        finally:
            self._envelope = None
            await self.response.aclose()

    async def aclose(self) -> None:
        await self.response.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
