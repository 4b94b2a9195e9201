"""The HTTP client for the Cerebras API (and any OpenAI-compatible server).

    _types.py      pydantic models: strict requests, lenient responses
    _sse.py        a sans-IO server-sent-events decoder
    _envelope.py   building a stream's chunks from the last one when only their text differs
    _streaming.py  sync and async streams of typed chunks
    _client.py     Client and AsyncClient over one shared core (request building, retries, parsing)
    _routing.py    where requests go: Cerebras, another server, or the local model
    _pool.py       the async client's connections, in small pools (many requests in flight)

The API's facts (paths, limits, error bodies, request checks) are in ../_wire.py, shared with local/ and
testing/. Names load lazily, like the package's.
"""
from __future__ import annotations

from .._lazy import loader

_LAZY = {"Client": "_client", "AsyncClient": "_client", "Stream": "_streaming", "AsyncStream": "_streaming"}
__all__ = sorted(_LAZY)
__getattr__ = loader(__name__, _LAZY)
