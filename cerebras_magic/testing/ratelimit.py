"""Token buckets behind the x-ratelimit-* headers, charged up front like the real API (inference-docs
.cerebras.ai/support/rate-limits): a request costs its prompt tokens plus its max completion tokens, before
any generation, and capacity refills continuously.

Buckets: requests per day (always) and per minute (when set), and Cerebras's two token buckets per minute:
total tokens, and uncached tokens (the same minus the prompt tokens served from the prompt cache). Headers:
the documented `x-ratelimit-{limit,remaining,reset}-requests-day` and `-tokens-minute` (the total bucket),
plus `-uncached-tokens-minute` and, when set, `-requests-minute` in the same pattern. A refusal says which
bucket and how long until the request would fit (for `retry-after` / `retry-after-ms`).
"""
from __future__ import annotations

import math
import threading
import time


class Bucket:
    """`capacity` units refilling evenly over `period` seconds."""

    def __init__(self, capacity: int, period: float):
        self.capacity, self.rate = capacity, capacity / period
        self.level, self.stamp = float(capacity), time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, units: float) -> float:
        """Seconds until `units` fit (a full period when they never will)."""
        if units > self.capacity:
            return self.capacity / self.rate
        return max(0.0, (units - self.level) / self.rate)

    def reset_seconds(self) -> float:
        return round((self.capacity - self.level) / self.rate, 3)


class RateLimits:
    """`charge` returns None, or (which, seconds to wait) with which = "requests" | "tokens"."""

    def __init__(self, requests_per_day: int = 1_000_000, tokens_per_minute: int = 100_000_000,
                 requests_per_minute: int | None = None, uncached_tokens_per_minute: int | None = None):
        self.buckets = {"requests-day": Bucket(requests_per_day, 86400.0),
                        "tokens-minute": Bucket(tokens_per_minute, 60.0),
                        "uncached-tokens-minute": Bucket(uncached_tokens_per_minute or tokens_per_minute, 60.0)}
        if requests_per_minute is not None:
            self.buckets["requests-minute"] = Bucket(requests_per_minute, 60.0)
        self.lock = threading.Lock()

    def charge(self, tokens: int, uncached: int | None = None) -> tuple[str, float] | None:
        cost = {"requests-day": 1, "requests-minute": 1, "tokens-minute": tokens,
                "uncached-tokens-minute": tokens if uncached is None else uncached}
        with self.lock:
            now = time.monotonic()
            for bucket in self.buckets.values():
                bucket.refill(now)
            for name, bucket in self.buckets.items():
                if bucket.level < cost[name] or cost[name] > bucket.capacity:
                    return ("requests" if name.startswith("requests") else "tokens"), bucket.wait_for(cost[name])
            for name, bucket in self.buckets.items():
                bucket.level -= cost[name]
            return None

    def refill_all(self) -> None:
        with self.lock:
            for bucket in self.buckets.values():
                bucket.level, bucket.stamp = float(bucket.capacity), time.monotonic()

    def headers(self) -> dict:
        with self.lock:
            now, out = time.monotonic(), {}
            for name, bucket in self.buckets.items():
                bucket.refill(now)
                out[f"x-ratelimit-limit-{name}"] = str(bucket.capacity)
                out[f"x-ratelimit-remaining-{name}"] = str(int(bucket.level))
                out[f"x-ratelimit-reset-{name}"] = f"{bucket.reset_seconds():.3f}"
            return out


def retry_headers(seconds: float) -> dict:
    """`retry-after` in whole seconds (HTTP's form) and the exact wait in `retry-after-ms` (preferred by the SDKs)."""
    return {"retry-after": str(max(1, math.ceil(seconds))), "retry-after-ms": str(max(1, math.ceil(seconds * 1000)))}
