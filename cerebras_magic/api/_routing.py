"""Where a client's requests go (Cerebras, any OpenAI-compatible server, or the local model), which model
answers when a request names none, and the httpx clients that carry them. The only module of the API
client that knows the local backend exists."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import httpx

from .. import _errors as E
from .. import _wire as wire

DEFAULT_BASE_URL = "https://api.cerebras.ai"
LOCAL_BASE_URL = wire.LOCAL_BASE_URL
BACKENDS = ("auto", "cerebras", "local")
_TLS = None


def normalize_base_url(url: str) -> str:
    """Accept 'https://host', 'https://host/' and 'https://host/v1' alike. A URL holding credentials
    (`https://user:key@host`) is refused without being repeated: the key would show in every message."""
    url = url.strip().rstrip("/")
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise E.ParameterError("the base URL holds credentials (user:...@host): give the key as CEREBRAS_API_KEY "
                               "or api_key=, and the URL without them")
    return url[:-3].rstrip("/") if url.endswith("/v1") else url


@dataclass(frozen=True)
class Route:
    """Where one client sends its requests, and how to name who answers."""

    backend: str                 # "cerebras" (any HTTP server) | "local"
    base_url: str
    local_model: Optional[str] = None   # the local backend's one model id

    @property
    def label(self) -> str:
        """Who answers, for footers and history rows: the local model, or the server's base URL."""
        if self.backend == "local":
            from ..local import LABEL
            return LABEL
        return self.base_url

    @property
    def loading_note(self) -> Optional[str]:
        if self.backend != "local":
            return None
        from .. import local
        return None if local.loaded() else "loading the local model, SmolLM2-135M-Instruct via llama.cpp (once per kernel)…"

    @property
    def needs_key(self) -> bool:
        return self.backend != "local" and self.base_url == DEFAULT_BASE_URL


def route(backend: str, has_key: bool, base_url: Optional[str]) -> Route:
    """auto: a key or a base URL means HTTP (Cerebras or any OpenAI-compatible server); else the local
    model if installed; else Cerebras, whose first request then says the three ways out."""
    if backend not in BACKENDS:
        raise E.ParameterError(f"backend={backend!r} is not a backend; allowed: {', '.join(BACKENDS)}")
    from .. import local
    if backend == "auto":
        backend = "cerebras" if has_key or base_url or not local.available() else "local"
    if backend == "local":
        if not local.available():
            raise E.MissingLocalModelError(f"the local backend is not installed: {local.INSTALL_HINT}")
        return Route("local", LOCAL_BASE_URL, local.MODEL_ID)
    return Route("cerebras", normalize_base_url(base_url or DEFAULT_BASE_URL))


# The model for a request that names none: the first live id of the first family here that the server
# offers, skipping what its catalogue marks deprecated (and preview ones while anything else is left).
# Families, not ids: the catalogue moves fast, and a new release of a family is picked up as it appears.
FAMILIES = ("gpt-oss", "llama", "qwen", "glm", "gemma")


def pick_model(ids: list, catalogue: Optional[dict] = None) -> Optional[str]:
    """The default among a server's model ids (`catalogue`: id -> public entry, where the server has one)."""
    catalogue = catalogue or {}
    usable = [m for m in ids if not (catalogue.get(m) or {}).get("deprecated")] or list(ids)
    settled = [m for m in usable if not (catalogue.get(m) or {}).get("preview")] or usable
    for family in FAMILIES:
        for model in settled:
            if family in model.lower():
                return model
    return settled[0] if settled else None


def missing_key_error() -> E.MissingAPIKeyError:
    from .. import local
    if local.available():  # the backend was chosen as Cerebras: the local model is there, but not asked
        return E.MissingAPIKeyError("no Cerebras API key: set CEREBRAS_API_KEY or run %cerebras key, or use the "
                                    "offline model (--backend local or auto)")
    return E.MissingAPIKeyError(f"no Cerebras API key and no local model: set CEREBRAS_API_KEY, run %cerebras key, "
                                f"or install the offline model ({local.INSTALL_HINT})")


def _tls():
    """One TLS context per process, shared by every client: httpx builds a new one (loading the whole CA
    bundle, ~20 ms) for each client otherwise. Contexts are safe to share between connections."""
    global _TLS
    if _TLS is None:
        _TLS = httpx.create_ssl_context()
    return _TLS


def http_client_for(where: Route, timeout, *, asynchronous: bool = False):
    """The httpx client of a new Client/AsyncClient: the local model's transport, or the network."""
    transport = None
    if where.backend == "local":
        from ..local import transport as local_transport
        transport = local_transport()
    if not asynchronous:
        return httpx.Client(timeout=timeout, transport=transport, verify=_tls())
    if transport is None:  # many requests in flight: see _pool.py
        from ._pool import ShardedTransport
        transport = ShardedTransport(verify=_tls())
    return httpx.AsyncClient(timeout=timeout, transport=transport, verify=_tls())
