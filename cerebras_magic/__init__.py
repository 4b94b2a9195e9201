"""cerebras_magic: Cerebras inference, native in Jupyter.

Public names load lazily (PEP 562) so that `%load_ext cerebras_magic` stays cheap: httpx, pydantic and
pandas are imported only when first used.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Client": "client", "AsyncClient": "client", "Stream": "streaming", "AsyncStream": "streaming",
    "ParameterError": "errors", "CerebrasError": "errors", "APIStatusError": "errors",
    "APIConnectionError": "errors", "APITimeoutError": "errors", "StreamError": "errors",
    "AuthenticationError": "errors", "PermissionDeniedError": "errors", "NotFoundError": "errors",
    "BadRequestError": "errors", "UnprocessableEntityError": "errors", "RateLimitError": "errors",
    "InternalServerError": "errors", "MissingAPIKeyError": "errors", "ResponseFormatError": "errors", "MissingLocalModelError": "errors",
    "chat": "session", "complete": "session", "history": "session", "configure": "session",
    "logprobs_frame": "session",
    "Result": "result", "Playground": "widget",
}

__all__ = sorted(_LAZY) + ["__version__"]


def load_ipython_extension(ip) -> None:
    """`%load_ext cerebras_magic`: registers the magics and nothing else."""
    from .magics import load_ipython_extension as load

    load(ip)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cerebras_magic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
