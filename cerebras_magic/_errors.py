"""Typed errors, each with one line that says what went wrong and what to do.

Messages are built from the status, the server's own message and a hint; the API key is scrubbed from
every message (a server may echo it back), so printing an exception can never leak it.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional

KEY_HINT = "set CEREBRAS_API_KEY or run %cerebras key"


class CerebrasError(Exception):
    """Base of every error raised by cerebras_magic."""

    def __str__(self) -> str:  # one line, always
        return " ".join(str(self.args[0] if self.args else "").split())

    def _render_traceback_(self) -> list:
        """IPython shows this instead of a traceback: the error is the user's to fix, not a bug."""
        import sys
        shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
        if str(getattr(shell, "colors", "")).lower() in ("nocolor", "no_color"):  # --colors=NoColor
            return [f"{type(self).__name__}: {self}"]
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ParameterError(CerebrasError, ValueError):
    """A request parameter is invalid; raised before anything is sent."""


class MissingAPIKeyError(CerebrasError):
    """No key for Cerebras (and no local model to fall back on); raised before anything is sent."""


class MissingLocalModelError(CerebrasError):
    """The local backend was asked for, but llama-cpp-python or the SmolLM2 model is not installed."""


class APIConnectionError(CerebrasError):
    hint = "check the network and the base URL (CEREBRAS_BASE_URL)"


class APITimeoutError(APIConnectionError):
    hint = "the server did not answer in time; retry, or raise the client's timeout"


class ResponseFormatError(CerebrasError):
    """The answer does not parse as the JSON or schema that was asked for (the text is in `.result`)."""


class StreamError(CerebrasError):
    """The stream broke: connection dropped or a chunk that is not JSON. Never retried."""


class UnexpectedResponseError(CerebrasError):
    """A 2xx answer whose body is neither the JSON nor the event stream the request asked for (an HTML page
    from a proxy or captive portal, say)."""

    hint = "something other than the API may be answering (a proxy or captive portal): check the base URL and the network"


class APIStatusError(CerebrasError):
    """An HTTP error status, or an error event inside a stream (`in_stream=True`)."""

    status_code: int = 0
    hint = "see the message above"

    def __init__(self, message: str, *, status_code: int, body: Any = None, code: Optional[str] = None,
                 type: Optional[str] = None, param: Optional[str] = None, headers=None, in_stream: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.code = code
        self.type = type
        self.param = param
        self.headers = dict(headers or {})
        self.in_stream = in_stream

    @property
    def message(self) -> str:
        return str(self)


class BadRequestError(APIStatusError):
    hint = "the server rejected the request parameters"


class AuthenticationError(APIStatusError):
    hint = f"the API key was refused: {KEY_HINT}"


class PaymentRequiredError(APIStatusError):
    hint = "check the billing or plan of this account"


class PermissionDeniedError(APIStatusError):
    hint = f"no API key was accepted: {KEY_HINT}"


class NotFoundError(APIStatusError):
    hint = "check the model id: %cerebras models lists the ones you can use"


class ConflictError(APIStatusError):
    hint = "retry in a moment"


class UnprocessableEntityError(APIStatusError):
    hint = "the request body is missing a field or has a wrong type"


class RateLimitError(APIStatusError):
    hint = "rate limit reached: wait and retry, or lower max tokens"


class InternalServerError(APIStatusError):
    hint = "server-side error: retry later"


_BY_STATUS = {400: BadRequestError, 401: AuthenticationError, 402: PaymentRequiredError,
              403: PermissionDeniedError, 404: NotFoundError, 409: ConflictError,
              422: UnprocessableEntityError, 429: RateLimitError}


def error_class(status: int) -> type:
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


SHORT_KEY = 8  # characters


def redact(text: str, secret: Optional[str]) -> str:
    """Remove the key (and anything shaped like a Cerebras key) from a string. A key too short to be a real
    one (a local server's "x") is masked where it stands alone, not inside every word holding its letters."""
    if secret and len(secret) >= SHORT_KEY:
        text = text.replace(secret, "***")
    elif secret:
        text = re.sub(rf"(?<![A-Za-z0-9_-]){re.escape(secret)}(?![A-Za-z0-9_-])", "***", text)
    return re.sub(r"csk-[A-Za-z0-9]{8,}", "csk-***", text)


def scrub(value: Any, secret: Optional[str]) -> Any:
    """`value` (strings, and dicts, lists and tuples of them) with the key redacted everywhere in it."""
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v, secret) for v in value)
    return value


def _server_message(body: Any) -> tuple[str, dict]:
    """Pull (message, fields) out of any error body: flat, wrapped in 'error', FastAPI 'detail', text."""
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if "message" in inner:
            return str(inner.get("message")), inner
        detail = body.get("detail")
        if isinstance(detail, list):
            msgs = []
            for d in detail[:3]:
                if isinstance(d, dict):
                    loc = ".".join(str(x) for x in d.get("loc", []) if x != "body")
                    msgs.append(f"{loc}: {d.get('msg')}" if loc else str(d.get("msg")))
            return "; ".join(msgs), {}
        if detail is not None:
            return str(detail), {}
        if isinstance(body.get("error"), str):
            return body["error"], {}
        return json.dumps(body)[:200], {}
    text = str(body or "").strip()
    if text.lstrip().startswith("<"):  # an HTML error page: keep its title only
        m = re.search(r"<title>(.*?)</title>|<h1>(.*?)</h1>", text, re.I | re.S)
        text = "HTML error page" + (f" ({(m.group(1) or m.group(2)).strip()})" if m else "")
    return text[:200] or "empty response body", {}


def parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def status_error(status: int, raw_body: bytes, *, where: str, headers=None, secret: Optional[str] = None,
                 in_stream: bool = False) -> APIStatusError:
    """Build the typed error for an HTTP status (or an in-stream error event) and its body."""
    body = parse_body(raw_body) if isinstance(raw_body, (bytes, bytearray)) else raw_body
    text, fields = _server_message(body)
    cls = error_class(status)
    code = fields.get("code")
    place = f"inside the stream of {where}" if in_stream else f"from {where}"
    hint = cls.hint
    if cls is RateLimitError and ("request" in str(code or "") or "requests per" in str(text).lower()):
        hint = "rate limit reached: wait and retry, or send fewer requests at once"  # max tokens cannot help here
    msg = f"{status} {cls.__name__} {place}: {text}" + (f" ({code})" if code else "") + f". {hint[0].upper()}{hint[1:]}."
    return cls(redact(msg, secret), status_code=status, body=scrub(body, secret), code=scrub(code, secret),
               type=scrub(fields.get("type"), secret), param=scrub(fields.get("param"), secret),
               headers=scrub(dict(headers or {}), secret), in_stream=in_stream)
