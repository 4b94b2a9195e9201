"""What the local server accepts: the Cerebras API's request checks and error bodies (cerebras-api.md §6),
with the local model's own limits (one choice and one prompt per request)."""
from __future__ import annotations

import json


class HTTPError(Exception):
    """An answer the transport sends instead of a completion: the status and the JSON body."""

    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status, self.body = status, body


def bad(message: str, status: int = 400) -> HTTPError:
    return HTTPError(status, {"message": message, "type": "invalid_request_error", "param": "validation_error",
                              "code": "wrong_api_format"})


def invalid(field: str, msg: str, kind: str = "value_error") -> HTTPError:
    return HTTPError(422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind}]})


NUMBERS = {"temperature": (0, 2, float), "top_p": (0, 1, float), "top_logprobs": (0, 20, int),
           "seed": (None, None, int), "max_tokens": (1, None, int), "max_completion_tokens": (1, None, int),
           "min_tokens": (-1, None, int), "min_completion_tokens": (-1, None, int)}


def validate(kind: str, raw: bytes) -> dict:
    """The request body, or the 400/422 Cerebras would answer; n > 1 and prompt batches are refused."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise bad("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    need = "messages" if kind == "chat" else "prompt"
    for field in ("model", need):
        if body.get(field) in (None, "", []):
            raise invalid(field, "Field required", "missing")
    messages = body.get("messages")
    if kind == "chat" and not (isinstance(messages, list)
                               and all(isinstance(m, dict) and m.get("role") for m in messages)):
        raise invalid("messages", "a list of {'role': ..., 'content': ...} messages")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and isinstance(prompt[0], (str, list)) and len(prompt) > 1:
        raise bad(f"the local model takes one prompt per request ({len(prompt)} were sent); send them one by one")
    stop = body.get("stop")
    if not (stop is None or isinstance(stop, str) or isinstance(stop, list) and all(isinstance(x, str) for x in stop)):
        raise invalid("stop", "a string or a list of strings")
    if body.get("echo") and body.get("return_raw_tokens"):
        raise bad("'echo' and 'return_raw_tokens' cannot be used together.")
    if body.get("n") not in (None, 1):
        raise bad(f"n={body['n']!r}: the local model makes one choice per request; send n requests instead")
    numbers = dict(NUMBERS, logprobs=(0, 20, int)) if kind == "completion" else NUMBERS
    for field, (lo, hi, cast) in numbers.items():
        value = body.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (cast is int and value != int(value)):
            raise invalid(field, f"must be {'an integer' if cast is int else 'a number'}", "type_error")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise invalid(field, f"must be between {lo} and {hi}" if hi is not None else f"must be >= {lo}")
        body[field] = cast(value)
    if body.get("seed") is not None:
        body["seed"] %= 2 ** 64
    try:
        body["logit_bias"] = {int(k): float(v) for k, v in (body.get("logit_bias") or {}).items()}
    except (TypeError, ValueError, AttributeError):
        raise invalid("logit_bias", "a map of token id -> bias") from None
    return body
