"""Token buckets behind the x-ratelimit-* headers, charged up front like the real API (§6), so clients can
be tested against both the headers and a real 429 once a small limit is exhausted."""
from __future__ import annotations

import threading
import time


class Bucket:
    """`capacity` units refilling evenly over `period` seconds."""

    def __init__(self, capacity: int, period: float):
        self.capacity, self.rate = capacity, capacity / period
        self.level, self.stamp = float(capacity), time.monotonic()

    def refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def reset_seconds(self) -> float:
        return round((self.capacity - self.level) / self.rate, 3)


class RateLimits:
    """Requests per day and tokens per minute; `charge` returns which limit refused, or None."""

    def __init__(self, requests_per_day: int, tokens_per_minute: int):
        self.requests = Bucket(requests_per_day, 86400.0)
        self.tokens = Bucket(tokens_per_minute, 60.0)
        self.lock = threading.Lock()

    def charge(self, tokens: int) -> str | None:
        with self.lock:
            self.requests.refill()
            self.tokens.refill()
            if self.requests.level < 1:
                return "requests"
            if self.tokens.level < tokens:
                return "tokens"
            self.requests.level -= 1
            self.tokens.level -= tokens
            return None

    def refill_all(self) -> None:
        with self.lock:
            for bucket in (self.requests, self.tokens):
                bucket.level, bucket.stamp = float(bucket.capacity), time.monotonic()

    def headers(self) -> dict:
        with self.lock:
            self.requests.refill()
            self.tokens.refill()
            return {
                "x-ratelimit-limit-requests-day": str(self.requests.capacity),
                "x-ratelimit-limit-tokens-minute": str(self.tokens.capacity),
                "x-ratelimit-remaining-requests-day": str(int(self.requests.level)),
                "x-ratelimit-remaining-tokens-minute": str(int(self.tokens.level)),
                "x-ratelimit-reset-requests-day": f"{self.requests.reset_seconds():.3f}",
                "x-ratelimit-reset-tokens-minute": f"{self.tokens.reset_seconds():.3f}",
            }
