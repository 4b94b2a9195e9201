"""The fake Cerebras server over real HTTP, driven with plain httpx (none of the project's client code)."""
import json
import math
import re
import subprocess
import sys
import time

import httpx
import jsonschema
import pytest

from cerebras_magic.testing import FAULTS, FakeServer
from cerebras_magic.testing.faults import trickle_pieces

KEY = {"Authorization": "Bearer test-key"}
HI = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def http(fake_server):
    with httpx.Client(base_url=fake_server.base_url, headers=KEY, timeout=10) as client:
        yield client


def sse(raw: bytes) -> list[str]:
    """A strict little SSE parser (any line ending, comments, multi-line data) returning data payloads."""
    out, data = [], []
    for line in re.split(r"\r\n|\r|\n", raw.decode("utf-8")):
        if not line:
            if data:
                out.append("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:][1:] if line[5:6] == " " else line[5:])
        else:
            assert line.startswith(":"), line
    if data:
        out.append("\n".join(data))
    return out


MODEL = "llama-3.3-70b"  # a current model without reasoning


def chat(http, stream=False, headers=None, **body):
    body = {"model": MODEL, "messages": HI, **body, "stream": stream}
    r = http.post("/v1/chat/completions", json=body, headers=headers or {})
    return (r, [json.loads(p) for p in sse(r.content) if p != "[DONE]"]) if stream else r


def complete(http, stream=False, **body):
    body = {"model": MODEL, "prompt": "Once upon a time", **body, "stream": stream}
    r = http.post("/v1/completions", json=body)
    return (r, [json.loads(p) for p in sse(r.content) if p != "[DONE]"]) if stream else r


def content_of(chunks) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


# ---- plumbing, models, auth --------------------------------------------------------------------------------
def test_tcp_warming_needs_no_auth(fake_server):
    r = httpx.get(fake_server.base_url + "/v1/tcp_warming")
    assert r.status_code == 200 and r.json() == {}


def test_models_list_retrieve_and_public(http):
    data = http.get("/v1/models").json()
    assert data["object"] == "list" and data["data"][0]["id"] == "gpt-oss-120b"
    ids = [m["id"] for m in data["data"]]
    assert {"llama-3.3-70b", "zai-glm-4.7", "gemma-4-31b", "qwen-3.8-27b"} <= set(ids)
    assert {"llama3.1-8b", "qwen-3-32b", "qwen-3-235b-a22b-instruct-2507"} <= set(ids)  # retired, still served
    assert all(m["object"] == "model" and m["owned_by"] == "cerebras" and isinstance(m["created"], int)
               for m in data["data"])
    assert http.get("/v1/models/qwen-3-32b").json()["id"] == "qwen-3-32b"
    r = http.get("/v1/models/nope")
    assert r.status_code == 404 and r.json()["code"] == "model_not_found"
    public = httpx.get(http.base_url.join("/public/v1/models")).json()["data"][0]
    assert {"name", "description", "pricing", "capabilities", "supported_parameters", "limits", "deprecated",
            "preview"} <= set(public)


def test_auth_missing_wrong_and_any_key(fake_server, http):
    r = httpx.get(fake_server.base_url + "/v1/models")
    assert r.status_code == 403 and r.json() == {"detail": "Not authenticated"}
    r = http.post("/v1/chat/completions", json={}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == {"message": "Wrong API Key", "type": "invalid_request_error",
                                                 "param": "api_key", "code": "wrong_api_key"}
    fake_server.api_key = None  # accepts any non-empty bearer token (reset() restores it)
    assert http.get("/v1/models", headers={"Authorization": "Bearer whatever"}).status_code == 200


def test_requests_are_recorded_and_rate_limit_headers_sent(fake_server, http):
    r = chat(http, max_completion_tokens=5, headers={"X-Custom": "1"})
    req = fake_server.requests[-1]
    assert (req.method, req.path, req["json"]["max_completion_tokens"]) == ("POST", "/v1/chat/completions", 5)
    assert req.headers["x-custom"] == "1" and req.headers["authorization"] == "Bearer test-key"
    for name in ("limit-requests-day", "limit-tokens-minute", "remaining-requests-day", "remaining-tokens-minute",
                 "reset-requests-day", "reset-tokens-minute"):
        float(r.headers["x-ratelimit-" + name])
    assert int(r.headers["x-ratelimit-remaining-requests-day"]) < int(r.headers["x-ratelimit-limit-requests-day"])


def test_small_rate_limits_give_the_real_429():
    with FakeServer(tokens_per_second=None, ttft=0, tokens_per_minute=100) as srv:
        with httpx.Client(base_url=srv.base_url, headers=KEY) as http:
            assert chat(http, max_completion_tokens=50).status_code == 200
            r = chat(http, max_completion_tokens=80)
    assert r.status_code == 429 and r.json()["code"] == "token_quota_exceeded"
    assert float(r.headers["x-ratelimit-reset-tokens-minute"]) > 0


@pytest.mark.parametrize("body, status, needle", [
    (b"{not json", 400, "wrong_api_format"),
    ({"messages": HI}, 422, "model"),
    ({"model": MODEL}, 422, "messages"),
    ({"model": MODEL, "messages": HI, "temperature": 1.6}, 400, "temperature"),
    ({"model": MODEL, "messages": HI, "top_p": 1.5}, 400, "top_p"),
    ({"model": MODEL, "messages": HI, "logprobs": True, "top_logprobs": 21}, 400, "top_logprobs"),
    ({"model": MODEL, "messages": HI, "top_logprobs": 2}, 400, "top_logprobs"),
    ({"model": MODEL, "messages": HI, "stop": list("abcde")}, 400, "stop"),
    ({"model": "nope", "messages": HI}, 404, "model_not_found"),
])
def test_chat_validation(http, body, status, needle):
    kw = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = http.post("/v1/chat/completions", **kw)
    assert r.status_code == status and needle in r.text
    if status == 400:
        assert r.json()["param"] == "validation_error" and r.json()["type"] == "invalid_request_error"
    if status == 422:
        assert r.json()["detail"][0] == {"loc": ["body", needle], "msg": "Field required", "type": "missing"}


def test_completion_validation(http):
    r = complete(http, echo=True, return_raw_tokens=True)
    assert r.status_code == 400 and r.json()["code"] == "wrong_api_format"
    assert http.post("/v1/completions", json={"model": MODEL}).json()["detail"][0]["loc"] == ["body", "prompt"]


# ---- shapes -------------------------------------------------------------------------------------------------
def test_chat_non_stream_shape(http):
    data = chat(http).json()
    assert re.fullmatch(r"chatcmpl-[0-9a-f-]{36}", data["id"]) and data["object"] == "chat.completion"
    assert isinstance(data["created"], int) and data["system_fingerprint"].startswith("fp_")
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert len(choice["message"]["content"]) > 40
    usage = data["usage"]
    assert 20 <= usage["completion_tokens"] <= 62 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    assert set(data["time_info"]) == {"queue_time", "prompt_time", "completion_time", "total_time", "created"}
    assert isinstance(data["time_info"]["created"], float)


def test_chat_stream_shape_matches_non_stream(http):
    r, chunks = chat(http, stream=True)
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["transfer-encoding"] == "chunked" and b"[DONE]" not in r.content
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
    assert "usage" in last and "time_info" in last and not any("usage" in c for c in chunks[:-1])
    assert content_of(chunks) == chat(http).json()["choices"][0]["message"]["content"]
    assert last["usage"]["completion_tokens"] == len(chunks) - 2  # one token per chunk


def test_completion_shapes(http):
    data = complete(http).json()
    assert data["object"] == "text_completion" and data["id"].startswith("chatcmpl-")
    assert data["choices"][0]["finish_reason"] == "stop" and data["choices"][0]["text"].startswith(" ")
    _, chunks = complete(http, stream=True)
    assert all(c["object"] == "text_completion" for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in chunks[-1] and "time_info" in chunks[-1]
    assert "".join(c["choices"][0]["text"] for c in chunks) == data["choices"][0]["text"]


def test_several_choices(http):
    data = complete(http, prompt=["one", "two"]).json()
    assert [c["index"] for c in data["choices"]] == [0, 1] and data["choices"][0]["text"] != data["choices"][1]["text"]
    _, chunks = chat(http, stream=True, n=2)
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1} and "usage" in chunks[-1]


# ---- generation ---------------------------------------------------------------------------------------------
def test_determinism(http):
    text = lambda **kw: chat(http, **kw).json()["choices"][0]["message"]["content"]  # noqa: E731
    assert text(seed=1) == text(seed=1) and text(seed=1) != text(seed=2)
    assert text(temperature=0.2) != text(temperature=0.9)
    assert text(messages=[{"role": "user", "content": "Other"}]) != text()


def test_max_and_min_tokens(http):
    full = chat(http).json()
    data = chat(http, max_completion_tokens=12).json()
    assert data["usage"]["completion_tokens"] == 12 and data["choices"][0]["finish_reason"] == "length"
    assert full["choices"][0]["message"]["content"].startswith(data["choices"][0]["message"]["content"])
    data = chat(http, min_completion_tokens=150).json()
    assert data["usage"]["completion_tokens"] >= 150 and data["choices"][0]["finish_reason"] == "stop"
    data = complete(http, max_tokens=7, min_tokens=7).json()
    assert data["usage"]["completion_tokens"] == 7 and data["choices"][0]["finish_reason"] == "length"


def test_stop_strings_never_appear(http):
    for seed in range(12):
        natural = chat(http, seed=seed).json()["choices"][0]["message"]["content"]
        # stops from the answer itself: across token boundaries, inside words, whitespace, punctuation
        stops = [natural[20:27], natural[9:11], ". ", "\n", natural[-3:], "zzz"][seed % 6:][:4]
        for stream in (False, True):
            if stream:
                _, chunks = chat(http, stream=True, seed=seed, stop=stops)
                text, finish = content_of(chunks), chunks[-1]["choices"][0]["finish_reason"]
            else:
                choice = chat(http, seed=seed, stop=stops).json()["choices"][0]
                text, finish = choice["message"]["content"], choice["finish_reason"]
            assert not any(s in text for s in stops) and natural.startswith(text) and finish == "stop"
            cut = min((natural.find(s) for s in stops if s in natural), default=len(natural))
            assert text == natural[:cut]


def test_chat_logprobs_with_split_character(http):
    data = chat(http, logprobs=True, top_logprobs=3, seed=5).json()
    text, entries = data["choices"][0]["message"]["content"], data["choices"][0]["logprobs"]["content"]
    assert data["choices"][0]["logprobs"]["refusal"] is None and len(entries) == data["usage"]["completion_tokens"]
    assert bytes(b for e in entries for b in e["bytes"]).decode("utf-8") == text
    assert any(e["token"].startswith("bytes:\\x") for e in entries)
    ranks = []
    for e in entries:
        tops = [t["logprob"] for t in e["top_logprobs"]]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True) and e["logprob"] <= 0
        assert sum(math.exp(lp) for lp in tops) <= 1
        ranks.append([t["token"] for t in e["top_logprobs"]].index(e["token"]) if e["token"] in
                     [t["token"] for t in e["top_logprobs"]] else 3)
    assert 0 in ranks and any(r > 0 for r in ranks)
    _, chunks = chat(http, stream=True, logprobs=True, top_logprobs=3, seed=5)
    streamed = [e for c in chunks if c["choices"][0].get("logprobs") for e in c["choices"][0]["logprobs"]["content"]]
    assert streamed == entries and content_of(chunks) == text
    split = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]
             if c["choices"][0]["logprobs"]["content"][0]["token"].startswith("bytes:")]
    assert "" in split or any(ord(ch) > 127 for s in split for ch in s)  # deltas only carry whole characters


@pytest.mark.parametrize("max_tokens", [10, 11, 25, None])
def test_every_answer_of_ten_tokens_splits_a_character(http, max_tokens):
    for seed in range(15):
        data = chat(http, seed=seed, logprobs=True, max_completion_tokens=max_tokens).json()
        entries = data["choices"][0]["logprobs"]["content"]
        assert sum(e["token"].startswith("bytes:") for e in entries) >= 1
        assert bytes(b for e in entries for b in e["bytes"]).decode() == data["choices"][0]["message"]["content"]
        data = complete(http, seed=seed, logprobs=0, max_tokens=max_tokens).json()
        assert any(t.startswith("bytes:") for t in data["choices"][0]["logprobs"]["tokens"])


def test_completion_logprobs_echo_and_offsets(http):
    prompt = "The café is open"
    data = complete(http, prompt=prompt, echo=True, logprobs=2, max_tokens=15).json()
    choice = data["choices"][0]
    lp, text = choice["logprobs"], choice["text"]
    assert text.startswith(prompt)  # the first echoed token has numbers too (the SDK's schema has no null)
    assert all(isinstance(v, float) and v <= 0 for v in lp["token_logprobs"]) and all(lp["top_logprobs"])
    assert len(lp["tokens"]) == len(lp["text_offset"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"])
    assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0
    for tok, off, top in zip(lp["tokens"], lp["text_offset"], lp["top_logprobs"]):
        if not tok.startswith("bytes:"):
            assert text[off:].startswith(tok) or text[off:].startswith(tok[1:]) or "\\x" in tok
        assert len(top) in (2, 3) and tok in top
    generated = complete(http, prompt=prompt, logprobs=2, max_tokens=15).json()["choices"][0]
    assert generated["logprobs"]["text_offset"][0] == len(prompt) and text == prompt + generated["text"]
    raw = complete(http, prompt=prompt, return_raw_tokens=True, max_tokens=15).json()
    assert len(raw["choices"][0]["tokens"]) == 15 and all(isinstance(t, int) for t in raw["choices"][0]["tokens"])
    _, chunks = complete(http, stream=True, prompt=prompt, echo=True, logprobs=2, max_tokens=15)
    assert [t for c in chunks[:-1] for t in c["choices"][0]["logprobs"]["tokens"]] == lp["tokens"]
    assert [o for c in chunks[:-1] for o in c["choices"][0]["logprobs"]["text_offset"]] == lp["text_offset"]
    body = {"model": MODEL, "prompt": prompt, "echo": True, "logprobs": 2, "max_tokens": 15}
    nulls = http.post("/v1/completions", json=body, headers={"x-fake-echo-null": "1"}).json()["choices"][0]["logprobs"]
    assert nulls["token_logprobs"][0] is None and nulls["top_logprobs"][0] is None  # as OpenAI and vLLM send it
    assert nulls["token_logprobs"][1:] == lp["token_logprobs"][1:] and nulls["tokens"] == lp["tokens"]


PYDANTIC_STYLE = {
    "$defs": {
        "Color": {"enum": ["red", "green"], "title": "Color", "type": "string"},
        "Item": {"properties": {"name": {"type": "string"}, "qty": {"minimum": 1, "maximum": 9, "type": "integer"},
                                "color": {"$ref": "#/$defs/Color"}},
                 "required": ["name", "qty", "color"], "title": "Item", "type": "object",
                 "additionalProperties": False},
    },
    "properties": {
        "title": {"type": "string", "maxLength": 40}, "price": {"type": "number", "exclusiveMinimum": 0},
        "ok": {"type": "boolean"}, "items": {"items": {"$ref": "#/$defs/Item"}, "type": "array", "minItems": 1},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "when": {"type": "string", "format": "date-time"}, "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object", "properties": {"depth": {"type": "integer"}}, "required": ["depth"]},
    },
    "required": ["title", "price", "ok", "items", "meta"], "title": "Order", "type": "object",
    "additionalProperties": False,
}


def test_json_object_and_json_schema(http):
    content = chat(http, response_format={"type": "json_object"}).json()["choices"][0]["message"]["content"]
    assert isinstance(json.loads(content), dict)
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "schema": PYDANTIC_STYLE, "strict": True}}
    for seed in range(5):
        choice = chat(http, response_format=fmt, seed=seed, logprobs=True).json()["choices"][0]
        jsonschema.validate(json.loads(choice["message"]["content"]), PYDANTIC_STYLE)
        assert bytes(b for e in choice["logprobs"]["content"] for b in e["bytes"]).decode() == \
            choice["message"]["content"]
    _, chunks = chat(http, stream=True, response_format=fmt)
    assert len(chunks) > 20 and json.loads(content_of(chunks))["items"]


WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city"]}}},
         {"type": "function", "function": {"name": "add", "parameters": {
             "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}]


def test_tool_calls(http):
    choice = chat(http, tools=TOOLS, messages=WEATHER).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and "content" not in choice["message"]
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["type"] == "function" and call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), TOOLS[0]["function"]["parameters"])
    named = {"type": "function", "function": {"name": "add"}}
    call = chat(http, tools=TOOLS, tool_choice=named).json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "add" and set(json.loads(call["function"]["arguments"])) == {"a", "b"}
    assert chat(http, tools=TOOLS, messages=WEATHER, tool_choice="none").json()["choices"][0]["message"]["content"]
    assert "tool_calls" not in chat(http, tools=TOOLS).json()["choices"][0]["message"]  # "Say hello" names no tool
    _, chunks = chat(http, stream=True, tools=TOOLS, messages=WEATHER)
    deltas = [c["choices"][0]["delta"] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert len(deltas) == 1 and deltas[0]["tool_calls"][0]["index"] == 0
    assert deltas[0]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    after = HI + [{"role": "assistant", "tool_calls": [call]}, {"role": "tool", "content": "3", "tool_call_id": "x"}]
    assert chat(http, tools=TOOLS, messages=after).json()["choices"][0]["finish_reason"] == "stop"


def test_reasoning_models(http):
    msg = chat(http, model="gpt-oss-120b").json()
    assert msg["choices"][0]["message"]["reasoning"] and msg["usage"]["completion_tokens_details"]["reasoning_tokens"]
    hidden = chat(http, model="gpt-oss-120b", reasoning_format="hidden").json()
    assert "reasoning" not in hidden["choices"][0]["message"]
    assert "reasoning" not in chat(http, model="gpt-oss-120b", reasoning_effort="none").json()["choices"][0]["message"]
    assert "reasoning" not in chat(http).json()["choices"][0]["message"]
    assert chat(http, model="qwen-3-32b").json()["choices"][0]["message"]["reasoning"]  # a retired id keeps "parsed"
    _, chunks = chat(http, stream=True, model="deepseek-r1-distill-llama-70b")
    assert "".join(c["choices"][0]["delta"].get("reasoning", "") for c in chunks) == \
        chat(http, model="deepseek-r1-distill-llama-70b").json()["choices"][0]["message"]["reasoning"]


def test_done_marker_option_and_header(fake_server, http):
    assert chat(http, stream=True, headers={"x-fake-done": "1"})[0].content.endswith(b"data: [DONE]\n\n")
    fake_server.done = True
    r, chunks = chat(http, stream=True)
    assert r.content.endswith(b"data: [DONE]\n\n") and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert b"[DONE]" not in chat(http, stream=True, headers={"x-fake-done": "0"})[0].content


def test_firehose_20000_tokens(fake_server, http):
    fake_server.firehose = True
    start = time.perf_counter()
    r, chunks = chat(http, stream=True, max_completion_tokens=20000, min_completion_tokens=20000)
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content") is not None) == 20001  # + role chunk
    assert chunks[-1]["usage"]["completion_tokens"] == 20000 and chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert time.perf_counter() - start < 5
    fake_server.firehose = False
    _, normal = chat(http, stream=True, max_completion_tokens=300, min_completion_tokens=300)
    fake_server.firehose = True
    _, fire = chat(http, stream=True, max_completion_tokens=300, min_completion_tokens=300)
    strip = lambda cs: [{k: v for k, v in c.items() if k not in ("id", "created", "time_info")} for c in cs]  # noqa
    assert strip(normal) == strip(fire)


def test_pacing_follows_the_clock(fake_server_paced):
    with httpx.Client(base_url=fake_server_paced.base_url, headers=KEY) as http:
        start = time.perf_counter()
        arrivals = []
        body = {"model": MODEL, "messages": HI, "stream": True, "max_completion_tokens": 400,
                "min_completion_tokens": 400}
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            for _ in r.iter_raw():
                arrivals.append(time.perf_counter() - start)
    # ttft 0.1 s + 400 tokens at 2000 tok/s = 0.3 s; delivered in several ~5 ms batches
    assert 0.27 < arrivals[-1] < 0.6 and arrivals[0] < 0.2 and len(arrivals) > 10


# ---- faults -------------------------------------------------------------------------------------------------
def test_fault_catalog_is_documented():
    assert {"status:<code>", "html:<code>", "empty:<code>", "drop:<n>", "stream-error:<n>", "malformed:<n>",
            "trickle", "crlf", "comments", "multiline", "slow:<seconds>"} <= set(FAULTS)


@pytest.mark.parametrize("code", [400, 401, 402, 403, 404, 422, 429, 500, 503])
def test_status_faults(http, code):
    r = chat(http, headers={"x-fake-fault": f"status:{code}"})
    assert r.status_code == code and isinstance(r.json(), dict)
    if code in (400, 401, 402, 404, 429, 500, 503):
        assert {"message", "type", "code"} <= set(r.json())
    assert ("retry-after" in r.headers) == (code == 429)


def test_status_fault_modifiers(http):
    r = chat(http, headers={"x-fake-fault": "status:429"})
    assert r.headers["retry-after"] == "0" and r.json()["code"] == "request_quota_exceeded"
    assert chat(http, headers={"x-fake-fault": "status:429;retry-after=1.5"}).headers["retry-after"] == "1.5"
    r = chat(http, headers={"x-fake-fault": "status:429;retry-after-ms=250"})
    assert r.headers["retry-after-ms"] == "250" and "retry-after" not in r.headers
    r = chat(http, headers={"x-fake-fault": "status:500;wrapped;x-should-retry=false"})
    assert r.json()["error"]["type"] == "internal_server_error" and r.headers["x-should-retry"] == "false"
    r = chat(http, headers={"x-fake-fault": "html:502"})
    assert r.status_code == 502 and r.headers["content-type"] == "text/html" and b"<h1>502 Bad Gateway" in r.content
    r = chat(http, headers={"x-fake-fault": "empty:503"})
    assert r.status_code == 503 and r.content == b""
    r = chat(http, headers={"x-fake-fault": "bogus:1"})
    assert r.status_code == 400 and "unknown fault" in r.json()["message"]


def test_queued_faults_count_down_and_skip_models(fake_server, http):
    fake_server.fault("status:503", times=2)
    assert http.get("/v1/models").status_code == 200  # not a completion request: untouched
    assert [chat(http).status_code for _ in range(3)] == [503, 503, 200]
    fake_server.fault("status:500;all")
    assert http.get("/v1/models").status_code == 500 and chat(http).status_code == 200
    fake_server.fault("status:500", times=5)
    fake_server.clear_faults()
    assert chat(http).status_code == 200
    with pytest.raises(ValueError):
        fake_server.fault("nonsense")


def test_drop_faults(http):
    body = {"model": MODEL, "messages": HI, "stream": True}
    got = []
    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream("POST", "/v1/chat/completions", json=body, headers={"x-fake-fault": "drop:3"}) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                got += [line] if line.startswith("data:") else []
    assert len(got) == 3
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        chat(http, headers={"x-fake-fault": "drop:0"})
    assert chat(http).status_code == 200  # the client reconnects


def test_stream_error_and_malformed(http):
    r, chunks = chat(http, stream=True, headers={"x-fake-fault": "stream-error:4"})
    assert r.status_code == 200 and len(chunks) == 5
    assert chunks[-1] == {"error": {"message": "Tokens per minute limit exceeded - too many tokens processed.",
                                    "type": "too_many_requests_error", "code": "token_quota_exceeded"},
                          "status_code": 429}
    body = {"model": MODEL, "messages": HI, "stream": True}
    payloads = sse(http.post("/v1/chat/completions", json=body, headers={"x-fake-fault": "malformed:2"}).content)
    with pytest.raises(ValueError):
        json.loads(payloads[2])
    good = [json.loads(p) for p in payloads[:2] + payloads[3:]]
    assert content_of(good) == chat(http).json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("spec", ["crlf", "comments", "multiline", "crlf,comments", "trickle", "crlf,multiline"])
def test_framing_faults_keep_the_same_events(http, spec):
    expected = content_of(chat(http, stream=True, max_completion_tokens=12)[1])
    body = {"model": MODEL, "messages": HI, "stream": True, "max_completion_tokens": 12}
    with http.stream("POST", "/v1/chat/completions", json=body, headers={"x-fake-fault": spec}) as r:
        pieces = list(r.iter_raw())
    raw = b"".join(pieces)
    assert content_of([json.loads(p) for p in sse(raw)]) == expected
    if "crlf" in spec or spec == "trickle":
        assert b"\r\n\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"")
    if "comments" in spec:
        assert raw.count(b": ping") == len(sse(raw))
    if "multiline" in spec:
        assert raw.count(b"data:") > 5 * len(sse(raw))
    if spec == "trickle":
        assert b": keep-alive" in raw and len(pieces) > 50


def test_trickle_cuts_inside_a_utf8_character():
    body = "data: {\"x\":\"café 🚀\"}\r\n\r\n".encode() * 3
    pieces = trickle_pieces(body)
    assert b"".join(pieces) == body and max(map(len, pieces)) <= 21
    assert any(not _decodes(p) for p in pieces)


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_slow_fault_times_out(fake_server):
    with httpx.Client(base_url=fake_server.base_url, headers=KEY, timeout=0.15) as http:
        with pytest.raises(httpx.ReadTimeout):
            chat(http, headers={"x-fake-fault": "slow:0.5"})


# ---- lifecycle ----------------------------------------------------------------------------------------------
def test_start_stop_without_with_and_keep_alive():
    srv = FakeServer(tokens_per_second=None).start()
    try:
        with httpx.Client(base_url=srv.base_url, headers=KEY) as http:
            for _ in range(3):
                assert chat(http, max_completion_tokens=3).status_code == 200
            assert len(srv._connections) == 1  # one keep-alive connection served all three
    finally:
        srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.base_url + "/v1/tcp_warming")


@pytest.mark.parametrize("key", ["k", None])
def test_command_line_prints_url_then_a_two_line_setup(key):
    args = [sys.executable, "-m", "cerebras_magic.testing", "--done", "--tps", "0"] + (["--key", key] if key else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        setup = [proc.stderr.readline().rstrip("\n") for _ in range(2)]
        assert setup[0] == f"export CEREBRAS_BASE_URL={url}"
        assert setup[1] == f"export CEREBRAS_API_KEY={key}" if key else re.fullmatch(r"export CEREBRAS_API_KEY=\S+",
                                                                                      setup[1])
        given = setup[1].partition("=")[2]
        r = httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {given}"},
                       json={"model": MODEL, "messages": HI, "stream": True})
        assert r.content.endswith(b"data: [DONE]\n\n")
        assert httpx.get(url + "/v1/models").json() == {"detail": "Not authenticated"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
