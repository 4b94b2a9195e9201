"""The client over real HTTP against the fake server on 127.0.0.1: sync and async, every framing and fault."""
import asyncio
import logging

import pytest

import cerebras_magic as cm
from cerebras_magic import _errors as E
from tests.conftest import free_port

KEY = "test-key"
MODEL = "llama-3.3-70b"  # no reasoning: these tests read the answer under small max tokens


@pytest.fixture
def client(fake_server):
    with cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url + "/v1", max_retries=2) as c:
        yield c


@pytest.fixture
async def aclient(fake_server):
    async with cm.AsyncClient(api_key=KEY, model=MODEL, base_url=fake_server.base_url) as c:
        yield c


def _text(stream):
    return "".join(c.text for c in stream)


def test_models_and_one_model(client):
    ids = [m.id for m in client.models()]
    assert "llama3.1-8b" in ids
    assert client.model("llama3.1-8b").id == "llama3.1-8b"
    with pytest.raises(cm.NotFoundError, match="%cerebras models"):
        client.model("no-such-model")


def test_chat_non_stream_is_typed_with_usage_time_info_and_ratelimit(client):
    r = client.chat("Say hello", seed=1, max_completion_tokens=30)
    assert r.object == "chat.completion" and r.text and r.finish_reason in ("stop", "length")
    assert r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.time_info.total_time is not None and r.system_fingerprint.startswith("fp_")
    assert r.ratelimit is not None and r.ratelimit.remaining_tokens_minute is not None


def test_stream_equals_non_stream_and_ends_with_usage(client):
    whole = client.chat("Tell me a story", seed=3).text
    chunks = list(client.chat("Tell me a story", seed=3, stream=True))
    assert "".join(c.text for c in chunks) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.finish_reason and last.usage.completion_tokens and last.time_info.total_time is not None


@pytest.mark.parametrize("done", ["1", "0"])
@pytest.mark.parametrize("framing", ["", "crlf", "comments", "multiline", "crlf,comments,multiline", "trickle"])
def test_every_framing_gives_the_same_text(client, framing, done):
    expected = client.chat("framing check", seed=5, max_completion_tokens=25).text
    headers = {"x-fake-done": done}
    if framing:
        headers["x-fake-fault"] = framing
    assert _text(client.chat("framing check", seed=5, max_completion_tokens=25, stream=True,
                             extra_headers=headers)) == expected


def test_completions_stream_echo_logprobs_and_raw_tokens(client):
    r = client.complete("Once upon a time", max_tokens=12, logprobs=3, echo=True, seed=2)
    assert r.object == "text_completion" and r.text.startswith("Once upon a time")
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset)
    assert all(isinstance(v, float) for v in lp.token_logprobs)  # numbers throughout, as the SDK's strict schema needs
    streamed = list(client.complete("Once upon a time", max_tokens=12, seed=2, stream=True))
    assert streamed[-1].finish_reason and streamed[-1].usage is not None
    raw = client.complete("Once upon a time", max_tokens=5, return_raw_tokens=True)
    assert all(isinstance(t, int) for t in raw.choices[0].tokens)


def test_chat_logprobs_stream_rebuild_multibyte_text_from_bytes(client):
    chunks = list(client.chat("a longer answer please", seed=9, logprobs=True, top_logprobs=4,
                              min_completion_tokens=30, max_completion_tokens=40, stream=True))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    text = "".join(c.text for c in chunks)
    assert bytes(b for e in entries for b in e.bytes).decode("utf-8") == text
    assert any(len(text[i].encode()) > 1 for i in range(len(text)))  # a multi-byte character was split
    assert all(len(e.top_logprobs) == 4 for e in entries)


def test_stop_max_tokens_and_finish_reason(client):
    full = client.chat("stop test", seed=11, max_completion_tokens=40).text
    word = full.split()[len(full.split()) // 2]
    r = client.chat("stop test", seed=11, max_completion_tokens=40, stop=[word])
    assert word not in r.text and r.finish_reason == "stop"
    r = client.chat("stop test", seed=11, max_completion_tokens=3)
    assert r.finish_reason == "length" and r.usage.completion_tokens == 3


def test_json_schema_tools_and_reasoning(client):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    import json
    r = client.chat("a person", response_format={"type": "json_schema",
                                                 "json_schema": {"name": "P", "schema": schema, "strict": True}})
    data = json.loads(r.text)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    r = client.chat("weather in Paris?", tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert r.finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    streamed = [c for c in client.chat("weather?", tools=tools, stream=True) if c.choices and c.choices[0].delta.tool_calls]
    assert streamed and streamed[0].choices[0].delta.tool_calls[0].function.name == "get_weather"
    r = client.chat("think first", model="qwen-3-32b")
    assert r.choices[0].message.reasoning


@pytest.mark.parametrize("status,cls", [(400, cm.BadRequestError), (401, cm.AuthenticationError),
                                        (402, E.PaymentRequiredError), (403, cm.PermissionDeniedError),
                                        (404, cm.NotFoundError), (422, cm.UnprocessableEntityError),
                                        (429, cm.RateLimitError), (500, cm.InternalServerError),
                                        (503, cm.InternalServerError)])
def test_every_status_is_a_typed_one_line_error(fake_server, status, cls):
    c = cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url, max_retries=0)
    with pytest.raises(cls) as info:
        c.chat("hi", extra_headers={"x-fake-fault": f"status:{status}"})
    msg = str(info.value)
    assert str(status) in msg and "\n" not in msg and KEY not in msg and info.value.status_code == status


@pytest.mark.parametrize("fault,needle", [("html:502", "HTML error page"), ("empty:503", "empty response body"),
                                          ("status:500;wrapped", "500")])
def test_odd_error_bodies_never_crash(fake_server, fault, needle):
    c = cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url, max_retries=0)
    with pytest.raises(cm.APIStatusError, match=needle):
        c.chat("hi", extra_headers={"x-fake-fault": fault})


def test_wrong_and_missing_key(fake_server):
    with pytest.raises(cm.AuthenticationError, match="Wrong API Key.*CEREBRAS_API_KEY"):
        cm.Client(api_key="csk-wrongwrongwrong", base_url=fake_server.base_url).chat("hi")
    with pytest.raises(cm.PermissionDeniedError, match="Not authenticated"):
        cm.Client(api_key="", base_url=fake_server.base_url).chat("hi")


def test_retries_honour_retry_after_then_succeed(client, fake_server):
    fake_server.fault("status:429;retry-after-ms=20", times=2)
    assert client.chat("retry me").text
    posts = [r for r in fake_server.requests if r_method(r) == "POST"]
    assert len(posts) == 3


def test_retry_budget_and_non_retryable(fake_server):
    c = cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url, max_retries=1)
    fake_server.fault("status:503;retry-after-ms=10", times=5)
    with pytest.raises(cm.InternalServerError):
        c.chat("x")
    assert sum(r_method(r) == "POST" for r in fake_server.requests) == 2
    fake_server.clear_faults()
    fake_server.requests.clear()
    with pytest.raises(cm.BadRequestError):
        c.chat("x", extra_headers={"x-fake-fault": "status:400"})
    fake_server.fault("status:503;retry-after-ms=10;x-should-retry=false", times=1)
    with pytest.raises(cm.InternalServerError):
        c.chat("x")
    assert sum(r_method(r) == "POST" for r in fake_server.requests) == 2  # neither was retried


def test_connection_refused_is_retried_then_one_line():
    c = cm.Client(api_key=KEY, model=MODEL, base_url=f"http://127.0.0.1:{free_port()}", max_retries=1)
    with pytest.raises(cm.APIConnectionError) as info:
        c.models()
    assert "127.0.0.1" in str(info.value) and "\n" not in str(info.value)


def test_timeout(fake_server):
    c = cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url, timeout=0.2, max_retries=0)
    with pytest.raises(cm.APITimeoutError):
        c.chat("x", extra_headers={"x-fake-fault": "slow:1"})


@pytest.mark.parametrize("fault,cls,needle", [("drop:3", cm.StreamError, "after 3 chunks"),
                                              ("malformed:2", cm.StreamError, "malformed chunk #3"),
                                              ("stream-error:2", cm.RateLimitError, "inside the stream")])
def test_mid_stream_failures_keep_earlier_chunks_and_are_not_retried(fake_server, fault, cls, needle):
    c = cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url, max_retries=2)
    got = []
    with pytest.raises(cls, match=needle):
        for chunk in c.chat("long answer", min_completion_tokens=20, stream=True, extra_headers={"x-fake-fault": fault}):
            got.append(chunk)
    assert len(got) >= 2
    assert sum(r_method(r) == "POST" for r in fake_server.requests) == 1


def test_closing_a_stream_early_closes_the_connection(client):
    stream = client.chat("a very long answer", min_completion_tokens=500, max_completion_tokens=500, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    assert stream.response.is_closed
    assert client.chat("still works", max_completion_tokens=3).text


def test_key_never_logged_or_in_errors(fake_server, caplog):
    secret = "csk-thisisaverysecretkey0001"
    caplog.set_level(logging.DEBUG)
    c = cm.Client(api_key=secret, base_url=fake_server.base_url, max_retries=1)
    fake_server.fault("status:503;retry-after-ms=5", times=1)
    with pytest.raises(cm.AuthenticationError) as info:
        c.chat("hi")
    assert secret not in str(info.value) and secret not in repr(info.value) and secret not in repr(c)
    assert secret not in caplog.text and secret not in str(info.value.body)


# -- async twin ------------------------------------------------------------------------------------

async def test_async_chat_stream_models_and_errors(aclient, client):
    assert "llama3.1-8b" in [m.id for m in await aclient.models()]
    whole = (await aclient.chat("async please", seed=4)).text
    assert whole == client.chat("async please", seed=4).text
    stream = await aclient.chat("async please", seed=4, stream=True, extra_headers={"x-fake-fault": "trickle"})
    assert "".join([c.text async for c in stream]) == whole
    comp = await aclient.complete("Once", max_tokens=4, stream=True)
    assert [c async for c in comp][-1].usage is not None
    with pytest.raises(cm.RateLimitError):
        s = await aclient.chat("x", stream=True, extra_headers={"x-fake-fault": "stream-error:1"})
        async for _ in s:
            pass
    with pytest.raises(cm.NotFoundError):
        await aclient.chat("x", model="nope")


async def test_async_retry_and_cancel(aclient, fake_server):
    fake_server.fault("status:500;retry-after-ms=10", times=1)
    assert (await aclient.chat("retry")).text
    stream = await aclient.chat("slow", min_completion_tokens=200, stream=True, extra_headers={"x-fake-fault": "trickle"})

    async def consume():
        async for _ in stream:
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.response.is_closed


def r_method(r):
    return r["method"] if isinstance(r, dict) else r.method


def test_clients_share_one_tls_context(monkeypatch):
    """Building httpx's default TLS context loads the CA bundle (~20 ms): once per process, not per client."""
    import httpx

    from cerebras_magic.api import _routing as backends
    made = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(backends, "_TLS", None)
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: made.append(1) or real(*a, **k))
    clients = [cm.Client(api_key=KEY, model=MODEL, base_url="https://example.invalid") for _ in range(3)]
    clients.append(cm.AsyncClient(api_key=KEY, model=MODEL, base_url="https://example.invalid"))
    assert len(made) == 1
    for c in clients[:3]:
        c.close()
