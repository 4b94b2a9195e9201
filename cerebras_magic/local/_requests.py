"""What the local backend accepts: the Cerebras API's own checks (_wire.py, shared with the fake server),
then the local model's limits (one choice and one prompt per request)."""
from __future__ import annotations

import json

from .. import _wire as wire


class HTTPError(Exception):
    """An answer the transport sends instead of a completion: the status and the JSON body."""

    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status, self.body = status, body


def bad(message: str) -> HTTPError:
    return HTTPError(*wire.bad_request(message))


def validate(kind: str, raw: bytes) -> dict:
    """The request body made ready for the engine, or the 400/422 Cerebras would answer."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise bad("Request body is not valid JSON.") from None
    refused = wire.validate(kind, body)
    if refused:
        raise HTTPError(*refused)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and isinstance(prompt[0], (str, list)) and len(prompt) > 1:
        raise bad(f"the local model takes one prompt per request ({len(prompt)} were sent); send them one by one")
    if body.get("n") not in (None, 1):
        raise bad(f"n={body['n']!r}: the local model makes one choice per request; send n requests instead")
    for field in ("temperature", "top_p"):
        if body.get(field) is not None:
            body[field] = float(body[field])
    if body.get("seed") is not None:
        body["seed"] %= 2 ** 64
    try:
        body["logit_bias"] = {int(k): float(v) for k, v in (body.get("logit_bias") or {}).items()}
    except (TypeError, ValueError, AttributeError):
        raise HTTPError(*wire.unprocessable(("logit_bias", "a map of token id -> bias", "value_error"))) from None
    return body
