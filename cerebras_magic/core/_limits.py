"""The batch scheduler's rate limits: token buckets learnt from the `x-ratelimit-*` headers as they arrive.

Cerebras meters requests and tokens in buckets that refill continuously (per minute, per day) and charges
a request its prompt tokens plus its max completion tokens up front, so a batch that charges the same
before sending can keep just under the limit instead of finding it with 429s. The buckets here mirror the
server's: made from the first response's `limit`/`remaining` figures, charged with an estimate as each
request leaves, refilled by the clock, and corrected by every later response. A response's `remaining`
counts its own request and whatever else the server had received by then; with many connections the
server takes requests in any order, so any request in flight when this one left, or sent since, may be
missing from it. The true level now lies between `remaining` minus those and `remaining` itself; our own
figure is kept unless it falls outside that range.

`rpm=`/`tpm=` make buckets for servers that send no headers (they start with one second's worth, so the
rate is even from the first request). A 429 pauses every new request for its Retry-After. `share` scales
every bucket: each of N Ray workers takes 1/N of the limit. Plain Python, no event loop: the batch engine
awaits `delay()`, the client's response hook calls `observe()`.
"""
from __future__ import annotations

import time
from typing import Optional

PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
MAX_PAUSE_S = 600.0   # a longer Retry-After is not believed (a day bucket spent: the batch waits in steps)


class Bucket:
    """`capacity` units refilling evenly over `period` seconds."""

    def __init__(self, capacity: float, period: float, level: Optional[float] = None, now: float = 0.0):
        self.capacity, self.rate = float(capacity), capacity / period
        self.level, self.stamp = float(capacity if level is None else level), now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, units: float) -> float:
        """Seconds until `units` fit (a request bigger than the bucket waits for a full one)."""
        return max(0.0, (min(units, self.capacity) - self.level) / self.rate)


def kind(bucket: str) -> str:
    """What a bucket counts: "requests" or "tokens" (requests_minute, tokens_minute, uncached_tokens_minute)."""
    return "requests" if bucket.startswith("requests") else "tokens"


def retry_after(headers) -> Optional[float]:
    """Seconds a 429 asks for (retry-after-ms first, as the SDKs read it), or None."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is not None:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                return None
    return None


class Limiter:
    """When the next request may go, from what the server said and what was sent since."""

    def __init__(self, *, rpm: Optional[float] = None, tpm: Optional[float] = None, share: float = 1.0,
                 clock=time.monotonic):
        self.share, self.clock = share, clock
        self.buckets: dict = {}
        self.fixed = set()           # buckets the user set (rpm=, tpm=): headers only lower their level
        self.flying = {"requests": 0.0, "tokens": 0.0}  # charged, no headers back yet
        self.sent = {"requests": 0.0, "tokens": 0.0}    # charged so far: with `flying`, the correction above
        self.pause_until = 0.0
        self.rate_limited = 0        # 429s seen (each slowed the batch; the client retried the request)
        self.known = False           # a response arrived: the headers (or their absence) are known
        now = clock()
        for name, per_minute in (("requests_minute", rpm), ("tokens_minute", tpm)):
            if per_minute:
                cap = per_minute * share
                self.buckets[name] = Bucket(cap, 60.0, level=max(cap / 60.0, 1.0 if name[0] == "r" else 0.0), now=now)
                self.fixed.add(name)

    def delay(self, tokens: float) -> tuple:
        """(seconds to wait before a request charged `tokens` may go, why): (0, None) means now."""
        now = self.clock()
        wait, why = max(0.0, self.pause_until - now), "429 Retry-After" if self.pause_until > now else None
        for name, b in self.buckets.items():
            b.refill(now)
            need = b.wait(1.0 if kind(name) == "requests" else tokens)
            if need > wait:
                wait, why = need, name
        return wait, why

    def take(self, tokens: float, mark: Optional[dict] = None) -> dict:
        """Charge a request that is leaving now (again, with the mark of its first try); returns its mark,
        for `observe` when its headers arrive and `settle` when it ends."""
        now = self.clock()
        for name, b in self.buckets.items():
            b.refill(now)
            b.level -= 1.0 if kind(name) == "requests" else tokens
        mark = mark if mark is not None else {"tokens": tokens}
        mark["at"] = {k: (self.flying[k], self.sent[k]) for k in self.sent}  # for `_unsure`
        self.sent["requests"] += 1.0
        self.sent["tokens"] += mark["tokens"]
        if not mark.get("flying"):
            self.flying["requests"] += 1.0
            self.flying["tokens"] += mark["tokens"]
            mark["flying"] = True
        return mark

    def settle(self, mark: Optional[dict]) -> None:
        """The request is no longer in flight (its headers came, or it failed without any)."""
        if mark is not None and mark.get("flying"):
            mark["flying"] = False
            self.flying["requests"] -= 1.0
            self.flying["tokens"] -= mark["tokens"]

    def observe(self, status: int, headers, mark: Optional[dict] = None) -> None:
        """A response's headers: learn or correct each bucket; a 429 pauses the batch for its Retry-After."""
        from ..api._types import RateLimit
        now = self.clock()
        self.known = True
        self.settle(mark)
        if status == 429:
            self.rate_limited += 1
            seconds = retry_after(headers)
            self.pause_until = max(self.pause_until, now + min(MAX_PAUSE_S, 1.0 if seconds is None else seconds))
        seen = RateLimit.from_headers(headers)
        for name, limit, remaining, _reset in (seen.buckets() if seen is not None else ()):
            period = PERIODS.get(name.rsplit("_", 1)[-1])
            if period is None or not limit or remaining is None:
                continue
            cap, left = limit * self.share, remaining * self.share
            b = self.buckets.get(name)
            if name in self.fixed:
                b.refill(now)
                b.level = min(b.level, left)
                continue
            if b is None or abs(b.capacity - cap) > 1e-9:
                self.buckets[name] = Bucket(cap, period, level=left - self._unsure(kind(name), mark), now=now)
                continue
            b.refill(now)
            b.level = min(max(b.level, left - self._unsure(kind(name), mark)), left)

    def _unsure(self, what: str, mark: Optional[dict]) -> float:
        """What a response's `remaining` may not count yet: the requests in flight when its request left,
        and those sent since (without a mark: everything in flight)."""
        if mark is None or "at" not in mark:
            return self.flying[what]
        flying, sent = mark["at"][what]
        own = 1.0 if what == "requests" else mark["tokens"]
        return flying + self.sent[what] - sent - own

    def describe(self) -> str:
        """The buckets in force, for the summary: 'requests_minute 1,200, tokens_minute 78,000'."""
        return ", ".join(f"{name} {b.capacity:,.0f}" for name, b in self.buckets.items())
