"""cerebras_magic: Cerebras inference, native in Jupyter.

The request path, one subpackage per layer:

    notebook/  the front ends: the %%cerebras magic and the playground panel
    core/      Ask (the request), Session.run (the one path), Result, History
    api/       the HTTP client: types, SSE, streams, retries, routing
    local/     the offline backend: llama.cpp behind an httpx transport
    display/   the cell renderer and the logprobs heat-map (all model text escaped)
    testing/   the fake Cerebras server
    _wire.py   facts about the API, shared by api/, local/ and testing/
    _errors.py the error tree

Public names load lazily (PEP 562) so that `%load_ext cerebras_magic` stays cheap: httpx, pydantic and
pandas are imported only when first used.
"""
from __future__ import annotations

from ._lazy import loader

__version__ = "0.1.0"

_ERRORS = ("ParameterError", "CerebrasError", "APIStatusError", "APIConnectionError", "APITimeoutError",
           "StreamError", "AuthenticationError", "PermissionDeniedError", "NotFoundError", "BadRequestError",
           "UnprocessableEntityError", "RateLimitError", "InternalServerError", "MissingAPIKeyError",
           "ResponseFormatError", "MissingLocalModelError", "UnexpectedResponseError")
_LAZY = {
    "Client": "api", "AsyncClient": "api", "Stream": "api", "AsyncStream": "api",
    **{name: "_errors" for name in _ERRORS},
    "chat": "core._functions", "complete": "core._functions", "history": "core._functions",
    "configure": "core._functions", "replay": "core._functions", "logprobs_frame": "core._functions",
    "Ask": "core", "Session": "core", "Result": "core", "Playground": "notebook", "Tool": "core",
    "compare": "core._compare", "Comparison": "core._compare",
    "batch": "core._batch", "BatchRun": "core._batch",
}

__all__ = sorted(_LAZY) + ["__version__"]


def load_ipython_extension(ip) -> None:
    """`%load_ext cerebras_magic`: registers the magics and nothing else."""
    from .notebook._magic import load_ipython_extension as load

    load(ip)


__getattr__ = loader(__name__, _LAZY)


def __dir__():
    return __all__
