"""Prompt caching as Cerebras documents it (inference-docs.cerebras.ai/capabilities/prompt-caching): prompts
are processed in 128-token blocks, a block is a hit when it and every block before it match a recent request's
prefix for the same model, and entries live 5 minutes. `usage.prompt_tokens_details.cached_tokens` is then the
number of leading whole blocks found times 128. Deterministic for a given order of requests; `clear()` forgets.
"""
from __future__ import annotations

import hashlib
import threading
import time

BLOCK = 128
TTL = 300.0


class PromptCache:
    def __init__(self, ttl: float = TTL, block: int = BLOCK):
        self.ttl, self.block = ttl, block
        self._seen: dict = {}
        self._lock = threading.Lock()

    def _keys(self, model: str, tokens: list[bytes]) -> list[bytes]:
        """One chained hash per whole block: a block's key covers everything before it too."""
        keys, digest = [], hashlib.sha256(model.encode()).digest()
        for end in range(self.block, len(tokens) + 1, self.block):
            digest = hashlib.sha256(digest + b"\x00".join(tokens[end - self.block:end])).digest()
            keys.append(digest)
        return keys

    def hits(self, model: str, prompts: list[list[bytes]]) -> int:
        """Cached tokens over the request's prompts, without storing anything (a refused request stores none)."""
        now, total = time.monotonic(), 0
        with self._lock:
            for tokens in prompts:
                for key in self._keys(model, tokens):
                    if self._seen.get(key, 0) < now:
                        break
                    total += self.block
        return total

    def store(self, model: str, prompts: list[list[bytes]]) -> None:
        expiry = time.monotonic() + self.ttl
        with self._lock:
            for tokens in prompts:
                for key in self._keys(model, tokens):
                    self._seen[key] = expiry
            if len(self._seen) > 100_000:  # keep a long benchmark's memory bounded
                now = time.monotonic()
                self._seen = {k: v for k, v in self._seen.items() if v >= now}

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
