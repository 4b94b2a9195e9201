"""Many requests in flight on the async client (a batch, a grid) without httpcore's pool slowing to a crawl.

Why: httpcore 1.0's connection pool does O(connections^2) work (each with a socket readability check) on
every request and every response close, and closes any idle connection while more than
`max_keepalive_connections` are open. At 64 in flight that leaves two bad choices: the default 20 keep-alive
connections (a new TCP connection for almost every request) or 64+ (10-13 ms of CPU per request, measured on
the fake server). So requests go to small pools ("shards") of SHARD connections each, all kept alive: the
first shard with room takes a request, and a new shard is made when all are full. Each pool's work stays
O(SHARD^2), connections are reused, and a single call (a cell) uses one connection as before.
"""
from __future__ import annotations

import httpx

SHARD = 16


class _Counted(httpx.AsyncByteStream):
    """A response body that frees its shard's slot when it is closed (or fails)."""

    def __init__(self, stream, shard: list):
        self._stream, self._shard, self._open = stream, shard, True

    async def __aiter__(self):
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._shard[1] -= 1
        await self._stream.aclose()


class ShardedTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, several times over: at most SHARD requests in flight on each."""

    def __init__(self, shard: int = SHARD, **options):
        self.size, self.options, self.shards = shard, options, []   # [transport, in flight]

    def _pick(self) -> list:
        for shard in self.shards:
            if shard[1] < self.size:
                return shard
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=self.size)
        shard = [httpx.AsyncHTTPTransport(limits=limits, **self.options), 0]
        self.shards.append(shard)
        return shard

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = self._pick()
        shard[1] += 1
        try:
            response = await shard[0].handle_async_request(request)
        except BaseException:
            shard[1] -= 1
            raise
        response.stream = _Counted(response.stream, shard)
        return response

    async def aclose(self) -> None:
        for transport, _ in self.shards:
            await transport.aclose()
