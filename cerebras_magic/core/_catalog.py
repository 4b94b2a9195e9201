"""What a server offers, looked up once per session: its model ids (`GET /v1/models`) and, where it has one,
the public catalogue (`GET /public/v1/models`, no key: names, prices, limits, capabilities, deprecation).

Why at run time: the Cerebras catalogue moves fast (models are retired within months), so no model id is
built in. A cell with no `-m` gets the first of the server's own ids in the preference order of
api/_routing.py (`FAMILIES`); an id the server does not offer is one line listing the ones it does,
closest first; prices give each history row its cost. Servers without a catalogue (vLLM, llama.cpp's
server, Ollama) still work: what they do not say stays unknown, never guessed. A failure to list is not
kept when it may pass (no key yet, the network), so a key set later is seen.
"""
from __future__ import annotations

import difflib
import threading
from typing import Optional

from .. import _errors as E
from ..api._routing import pick_model

_PASSING = (E.MissingAPIKeyError, E.AuthenticationError, E.PermissionDeniedError, E.APIConnectionError,
            E.RateLimitError, E.InternalServerError)


class Catalog:
    """The models of every server a session talks to, fetched on first need and kept for the session."""

    def __init__(self) -> None:
        self._ids: dict = {}      # base URL -> [ids] (None: the server would not list them)
        self._public: dict = {}   # base URL -> {id: catalogue entry} ({}: no public catalogue)
        self._lock = threading.Lock()

    def ids(self, client) -> Optional[list]:
        key = client.base_url
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        try:
            found = [m.id for m in client.models()] or None
        except _PASSING:
            raise  # not kept: the next call asks again (a key set later is seen)
        except E.CerebrasError:
            found = None  # this server lists no models: nothing is checked against a list
        with self._lock:
            self._ids.setdefault(key, found)
            return self._ids[key]

    def public(self, client) -> dict:
        key = client.base_url
        with self._lock:
            if key in self._public:
                return self._public[key]
        try:
            found = {m.id: m.model_dump() for m in client.public_models()}
        except _PASSING:
            return {}  # not kept: asked again next time
        except E.CerebrasError:
            found = {}
        with self._lock:
            self._public.setdefault(key, found)
            return self._public[key]

    def entry(self, client, model: str) -> Optional[dict]:
        return self.public(client).get(model)

    def default_model(self, client) -> tuple:
        """(model id, why) for a request that names none. Raises what stops the list being read (a missing
        or refused key, the network): with no model named there is nothing else to send."""
        if client.route.local_model:
            return client.route.local_model, None  # its one model: the footer's "via local ..." says it
        ids = self.ids(client)
        if not ids:
            return client.default_model, None
        return pick_model(ids, self.public(client)), "the server's default"

    def check(self, client, model: str, shown: str) -> None:
        """ParameterError if the server lists its models and `model` is not one of them. A list that cannot
        be read now (no key, no network) checks nothing: the request itself then says what is wrong."""
        try:
            ids = self.ids(client)
        except _PASSING:
            return
        if not ids or model in ids:
            return
        closest = difflib.get_close_matches(model, ids, n=len(ids), cutoff=0.0)
        where = "the local backend" if client.route.local_model else client.base_url
        raise E.ParameterError(f"{shown} {model!r} is not offered by {where}; it offers: {', '.join(closest)}")

    def cost(self, client, model: str, usage) -> Optional[float]:
        """US dollars for one call from the catalogue's prices (cached prompt tokens at their own price where
        one is listed); None when a price or a count is unknown."""
        entry = self.entry(client, model)
        pricing = (entry or {}).get("pricing") or {}
        prompt, completion = _price(pricing.get("prompt")), _price(pricing.get("completion"))
        if usage is None or prompt is None or completion is None:
            return None
        p, c = usage.prompt_tokens, usage.completion_tokens
        if p is None or c is None:
            return None
        cached = ((usage.prompt_tokens_details or {}).get("cached_tokens") or 0) if usage.prompt_tokens_details else 0
        cached_price = _price(pricing.get("input_cache_read"))
        if cached_price is None:
            cached_price = prompt  # no separate price: a cached prompt token is a prompt token
        return round((p - cached) * prompt + cached * cached_price + c * completion, 10)

    def max_completion(self, client, model: str) -> Optional[int]:
        limits = (self.entry(client, model) or {}).get("limits") or {}
        value = limits.get("max_completion_tokens")
        return int(value) if isinstance(value, (int, float)) else None


def _price(value) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
