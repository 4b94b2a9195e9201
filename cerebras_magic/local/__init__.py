"""The offline backend: SmolLM2-135M-Instruct run by llama.cpp in this process, answering the Cerebras wire
format through an httpx transport, so every front end runs the same client code offline as online.

    _files.py      is it installed, and where (no heavy import)
    _transport.py  the httpx transport: routes, Cerebras-shaped JSON and SSE
    _requests.py   request checks (the API's own, from ../_wire.py, then the local model's limits)
    _engine.py     llama.cpp: load, chat template, KV cache, decode, grammar
    _sampling.py   the sampling loop and its logprobs
"""
from __future__ import annotations

import threading

from ._files import INSTALL_HINT, LABEL, MODEL_ID, available, model_path

__all__ = ["INSTALL_HINT", "LABEL", "MODEL_ID", "available", "model_path", "loaded", "transport", "no_extra_buffers"]

_TRANSPORT = None
_LOCK = threading.Lock()


def transport():
    """The process's one LocalTransport, shared by every client (the model loads once, on first use)."""
    global _TRANSPORT
    with _LOCK:
        if _TRANSPORT is None:
            from ._transport import LocalTransport
            _TRANSPORT = LocalTransport()
    return _TRANSPORT


def loaded() -> bool:
    """Whether a local model is already in memory (else the next request pays the load)."""
    from ._engine import loaded_model
    return loaded_model() is not None


def __getattr__(name: str):
    if name == "LocalTransport":  # the transport class, for a model file of your own (loads llama.cpp lazily)
        from ._transport import LocalTransport
        return LocalTransport
    raise AttributeError(f"module 'cerebras_magic.local' has no attribute {name!r}")


def no_extra_buffers():
    """Context manager: load llama.cpp models without the extra CPU buffer types (see _engine.py)."""
    from ._engine import no_extra_buffers as ctx
    return ctx()
