"""Fault specs: parse them, and reshape a response or an SSE stream the way a flaky network or an unhappy
API would, so client retry, error and parser code can be tested on demand."""
from __future__ import annotations

import json
from dataclasses import dataclass

from .._wire import MODEL_NOT_FOUND, NOT_AUTHENTICATED, REQUESTS_EXCEEDED, WRONG_KEY, bad_request, unprocessable

FAULTS = {
    "status:<code>": "answer with that HTTP status and the real error body (400 401 402 403 404 408 409 422 "
                     "429 500 502 503 504; any other code gets a generic body); modifiers: ;wrapped "
                     "(body inside {\"error\": ...}), ;retry-after=<s>, ;retry-after-ms=<ms>, "
                     ";x-should-retry=true|false. status:429 sends retry-after: 0 unless told otherwise",
    "html:<code>": "that status with an nginx-style HTML error page (text/html)",
    "empty:<code>": "that status with an empty body",
    "drop:<n>": "streams: send n SSE events, then close the socket without ending the chunked body; "
                "non-streaming: close the connection before any response byte",
    "stream-error:<n>": "streams: after n events, one {\"error\": {...}, \"status_code\": 429} event, then the end",
    "malformed:<n>": "streams: after n events, one extra event whose JSON is cut in half; the normal events "
                     "then continue to the end",
    "trickle": "write the body a few bytes at a time with small pauses, splitting events and UTF-8 "
               "characters across writes; CRLF line ends and ': keep-alive' comments between some events",
    "crlf": "SSE lines end with \\r\\n",
    "comments": "a ': ping' comment line before every event",
    "multiline": "every JSON payload spread over several data: lines (indented JSON)",
    "slow:<seconds>": "wait that long before sending the response headers",
    "bad-tool-args": "tool calls carry arguments cut short, so they are not valid JSON (streamed or not)",
    "ignore-stream": "streams: answer a stream=true request with the whole JSON response, as a server that "
                     "ignores stream does",
    "stall:<n>": "streams: send n SSE events, then send nothing more for `;seconds=<s>` (default 5) before the "
                 "rest: a read timeout in the middle of a body",
    "echo-key:<code>": "that status with an OpenAI-style error body that quotes the bearer token the request "
                       "sent (\"Incorrect API key provided: csk-...\"), and the same in a response header",
    "split-tool-calls": "streams: each tool call arrives as its name, then its arguments in 8-character pieces, "
                        "instead of whole in one chunk",
    "<spec>;all": "(queued faults only) also hit /v1/models and /v1/tcp_warming, not just completions",
}
STREAM_ERROR = {"error": {"message": "Tokens per minute limit exceeded - too many tokens processed.",
                          "type": "too_many_requests_error", "code": "token_quota_exceeded"}, "status_code": 429}
STATUS_BODIES = {
    400: bad_request("Fake fault: the request was rejected.")[1],
    401: WRONG_KEY, 403: NOT_AUTHENTICATED, 404: MODEL_NOT_FOUND,
    402: {"message": "Payment required: your organization has no remaining credits.",
          "type": "payment_required_error", "code": "payment_required"},
    408: {"message": "Request timed out.", "type": "timeout_error", "code": "request_timeout"},
    409: {"message": "Conflict, please retry.", "type": "conflict_error", "code": "conflict"},
    422: unprocessable(("messages", "Field required", "missing"))[1],
    429: REQUESTS_EXCEEDED,
    500: {"message": "Internal server error.", "type": "internal_server_error", "code": "internal_error"},
    502: {"message": "Bad gateway.", "type": "server_error", "code": "bad_gateway"},
    503: {"message": "The service is temporarily overloaded, please try again later.",
          "type": "service_unavailable_error", "code": "service_unavailable"},
    504: {"message": "Gateway timeout.", "type": "server_error", "code": "gateway_timeout"},
}
REASONS = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
           422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass
class Fault:
    """The parsed form of a spec string such as "status:429;retry-after=1.5" or "crlf,comments"."""
    status: int | None = None
    body_kind: str = "json"  # json | html | empty
    wrapped: bool = False
    headers: tuple = ()
    drop: int | None = None
    stream_error: int | None = None
    malformed: int | None = None
    trickle: bool = False
    crlf: bool = False
    comments: bool = False
    multiline: bool = False
    slow: float = 0.0
    bad_tool_args: bool = False
    split_tool_calls: bool = False
    ignore_stream: bool = False
    stall: int | None = None
    stall_seconds: float = 5.0
    echo_key: int | None = None
    all_paths: bool = False

    def merge(self, other: "Fault") -> "Fault":
        merged, blank = Fault(**vars(self)), Fault()
        for key, value in vars(other).items():
            if value != getattr(blank, key):
                setattr(merged, key, value)
        return merged


def parse(spec: str) -> Fault:
    """Parse a comma-separated list of specs; raises ValueError on anything unknown."""
    fault = Fault()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        head, *mods = [m.strip() for m in part.split(";")]
        name, _, arg = head.partition(":")
        try:
            if name in ("status", "html", "empty"):
                fault.status, fault.body_kind = int(arg), name if name != "status" else "json"
            elif name in ("drop", "stream-error", "malformed", "stall", "echo-key"):
                setattr(fault, name.replace("-", "_"), int(arg))
            elif name == "slow":
                fault.slow = float(arg)
            elif name in ("trickle", "crlf", "comments", "multiline", "bad-tool-args", "split-tool-calls",
                          "ignore-stream") and not arg:
                setattr(fault, name.replace("-", "_"), True)
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"unknown fault spec {part!r}; known: {', '.join(FAULTS)}") from None
        headers = dict(fault.headers)
        for mod in mods:
            key, _, value = mod.partition("=")
            if key == "wrapped":
                fault.wrapped = True
            elif key == "all":
                fault.all_paths = True
            elif key == "seconds" and value:
                fault.stall_seconds = float(value)
            elif key in ("retry-after", "retry-after-ms", "x-should-retry") and value:
                headers[key] = value
            else:
                raise ValueError(f"unknown fault modifier {mod!r} in {part!r}")
        if fault.status == 429 and not {"retry-after", "retry-after-ms"} & set(headers):
            headers["retry-after"] = "0"
        fault.headers = tuple(headers.items())
    return fault


def echoed_key_response(fault: Fault, authorization: str | None) -> tuple[int, dict, bytes]:
    """An error that repeats the caller's key back, as some OpenAI-compatible servers do: in the body (twice,
    in message and param) and in a header, so clients can be checked for leaking it anywhere."""
    token = (authorization or "").partition(" ")[2].strip()
    body = {"error": {"message": f"Incorrect API key provided: {token}. You can find your API key at "
                                 "https://example.invalid/keys.", "type": "invalid_request_error",
                      "param": f"api_key={token}", "code": "invalid_api_key"}}
    return fault.echo_key, {"content-type": "application/json", "x-echo-key": token}, json.dumps(body).encode()


def error_response(fault: Fault) -> tuple[int, dict, bytes]:
    """(status, headers, body) for a status/html/empty fault."""
    code, headers = fault.status, dict(fault.headers)
    if fault.body_kind == "empty":
        return code, {**headers, "content-type": None}, b""
    if fault.body_kind == "html":
        title = f"{code} {REASONS.get(code, 'Error')}"
        page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>"
                f"\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
        return code, {**headers, "content-type": "text/html"}, page.encode()
    body = STATUS_BODIES.get(code) or {"message": f"Fake fault: HTTP {code}.", "type": "api_error",
                                        "code": f"http_{code}"}
    body = {"error": body} if fault.wrapped else body
    return code, {**headers, "content-type": "application/json"}, json.dumps(body).encode()


def shape_stream(dues: list[int], payloads: list[str], fault: Fault, done: bool):
    """Apply stream faults; returns (dues, framed event bytes, drop_connection_at_end)."""
    dues, payloads = list(dues), list(payloads)
    drop = False
    if fault.malformed is not None and payloads:
        at = min(fault.malformed, len(payloads))
        broken = payloads[min(at, len(payloads) - 1)]
        payloads.insert(at, broken[: max(1, len(broken) // 2)])
        dues.insert(at, dues[max(at - 1, 0)])
    if fault.stream_error is not None:
        n = fault.stream_error
        payloads = payloads[:n] + [json.dumps(STREAM_ERROR, separators=(",", ":"))]
        dues = dues[:n] + [dues[min(n, len(dues)) - 1] if dues and n > 0 else 0]
        done = False
    if fault.drop is not None:
        payloads, dues, drop, done = payloads[:fault.drop], dues[:fault.drop], True, False
    if done:
        payloads.append("[DONE]")
        dues.append(dues[-1] if dues else 0)
    eol = "\r\n" if fault.crlf or fault.trickle else "\n"
    framed = []
    for k, payload in enumerate(payloads):
        lines = [payload]
        if fault.multiline:
            try:
                lines = json.dumps(json.loads(payload), indent=1, ensure_ascii=False).split("\n")
            except ValueError:
                pass
        event = "".join(f"data: {line}{eol}" for line in lines) + eol
        if fault.comments:
            event = f": ping{eol}{event}"
        elif fault.trickle and k % 3 == 1:
            event = f": keep-alive{eol}{event}"
        framed.append(event.encode())
    return dues, framed, drop


def trickle_pieces(body: bytes) -> list[bytes]:
    """Cut a body into 1-21 byte pieces, with one cut guaranteed inside the first multi-byte character."""
    cuts, at, sizes = set(), 0, (1, 2, 3, 5, 8, 13, 21)
    first_multi = next((i for i, b in enumerate(body) if b >= 0xC0), None)
    if first_multi is not None:
        cuts.add(first_multi + 1)
    k = 0
    while at < len(body):
        at += sizes[k % len(sizes)]
        k += 1
        cuts.add(min(at, len(body)))
    edges = [0] + sorted(c for c in cuts if 0 < c <= len(body))
    return [body[a:b] for a, b in zip(edges, edges[1:]) if b > a]
