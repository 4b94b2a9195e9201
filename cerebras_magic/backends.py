"""Where a client's requests go (Cerebras, any OpenAI-compatible server, or the local model) and the
httpx clients that carry them."""
from __future__ import annotations

from typing import Optional

import httpx

from . import errors as E

DEFAULT_BASE_URL = "https://api.cerebras.ai"
LOCAL_BASE_URL = "http://local.cerebras-magic"   # never resolved: the local transport answers in-process
BACKENDS = ("auto", "cerebras", "local")
_LOCAL = None
_TLS = None


def normalize_base_url(url: str) -> str:
    """Accept 'https://host', 'https://host/' and 'https://host/v1' alike."""
    url = url.strip().rstrip("/")
    return url[:-3].rstrip("/") if url.endswith("/v1") else url


def resolve_backend(backend: str, has_key: bool, explicit_url: Optional[str]) -> str:
    """auto: a key or a base URL means HTTP (Cerebras or any OpenAI-compatible server); else the local
    model if installed; else Cerebras, whose first request then says the three ways out."""
    if backend not in BACKENDS:
        raise E.ParameterError(f"invalid backend={backend!r}; allowed: {', '.join(BACKENDS)}")
    if backend == "auto":
        if has_key or explicit_url:
            return "cerebras"
        from . import local
        return "local" if local.available() else "cerebras"
    if backend == "local":
        from . import local
        if not local.available():
            raise E.MissingLocalModelError(f"the local backend is not installed: {E.LOCAL_HINT}")
    return backend


def _local_transport():
    """One local model per process, shared by every client (it loads once, lazily)."""
    global _LOCAL
    if _LOCAL is None:
        from .local import LocalTransport
        _LOCAL = LocalTransport()
    return _LOCAL


def _tls():
    """One TLS context per process, shared by every client: httpx builds a new one (loading the whole CA
    bundle, ~20 ms) for each client otherwise. Contexts are safe to share between connections."""
    global _TLS
    if _TLS is None:
        _TLS = httpx.create_ssl_context()
    return _TLS


def http_client_for(backend: str, timeout, *, asynchronous: bool = False):
    """The httpx client of a new Client/AsyncClient: the local model's transport, or the network."""
    transport = _local_transport() if backend == "local" else None
    cls = httpx.AsyncClient if asynchronous else httpx.Client
    return cls(timeout=timeout, transport=transport, verify=_tls())
