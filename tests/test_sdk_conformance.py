"""Proof of fidelity: the official Cerebras SDK and the openai client, unchanged, work against the fake server
(models, chat and completions, streaming, logprobs, tool calls, typed errors). Both validate every response
strictly against their own schemas (`_strict_response_validation=True`), so a field of the wrong type or a
null where the schema has none fails here. Loopback only."""
import json

import openai
import pytest
from cerebras.cloud import sdk as cb

HI = [{"role": "user", "content": "Say hello"}]
MODEL = "llama-3.3-70b"
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
STRICT = {"_strict_response_validation": True}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


@pytest.fixture
def sdk(fake_server):
    with cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0,
                     warm_tcp_connection=False, **STRICT) as client:
        yield client


@pytest.fixture
def oai(fake_server):
    with openai.OpenAI(api_key="test-key", base_url=fake_server.base_url + "/v1", max_retries=0, **STRICT) as client:
        yield client


def test_sdk_warms_the_tcp_connection_on_construction(fake_server):
    with cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, **STRICT) as client:
        assert [(r.method, r.path) for r in fake_server.requests] == [("GET", "/v1/tcp_warming")]
        assert client.models.list().data[0].id == "gpt-oss-120b"


def test_sdk_models(sdk):
    ids = [m.id for m in sdk.models.list().data]
    assert ids[0] == "gpt-oss-120b" and {"zai-glm-4.7", "llama3.1-8b", "qwen-3-32b"} <= set(ids)
    assert sdk.models.retrieve("llama-3.3-70b").id == "llama-3.3-70b"
    with pytest.raises(cb.NotFoundError):
        sdk.models.retrieve("no-such-model")


def test_sdk_chat_non_stream_and_stream(sdk):
    resp = sdk.chat.completions.create(model=MODEL, messages=HI, seed=3)
    assert resp.object == "chat.completion" and resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens > 0 and resp.time_info.total_time > 0
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=HI, seed=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == resp.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens == resp.usage.total_tokens


def test_sdk_chat_logprobs_and_reasoning(sdk):
    resp = sdk.chat.completions.create(model="gpt-oss-120b", messages=HI, logprobs=True, top_logprobs=2,
                                       reasoning_format="parsed")
    choice = resp.choices[0]
    content, thinking = choice.logprobs.content, choice.reasoning_logprobs.content
    assert len(content) == resp.usage.completion_tokens - resp.usage.completion_tokens_details.reasoning_tokens
    assert len(thinking) == resp.usage.completion_tokens_details.reasoning_tokens
    assert all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in content + thinking)
    assert bytes(b for e in content for b in e.bytes).decode() == choice.message.content
    assert bytes(b for e in thinking for b in e.bytes).decode() == choice.message.reasoning
    chunks = list(sdk.chat.completions.create(model="gpt-oss-120b", messages=HI, logprobs=True, stream=True,
                                              reasoning_format="parsed"))
    assert "".join(c.choices[0].delta.reasoning or "" for c in chunks) == choice.message.reasoning
    assert sum(len(c.choices[0].reasoning_logprobs.content) for c in chunks if c.choices[0].reasoning_logprobs) \
        == len(thinking)


def test_sdk_completions(sdk):
    resp = sdk.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=10, logprobs=3, echo=True)
    choice = resp.choices[0]
    assert resp.object == "text_completion" and choice.finish_reason == "length"
    assert choice.text.startswith("Once upon a time") and choice.logprobs.token_logprobs[0] <= 0  # a number
    assert all(len(top) in (3, 4) for top in choice.logprobs.top_logprobs)
    raw = sdk.completions.create(model=MODEL, prompt="Hi", max_tokens=5, return_raw_tokens=True)
    assert len(raw.choices[0].tokens) == 5
    chunks = list(sdk.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=10, stream=True,
                                         echo=True, logprobs=2))
    assert "".join(c.choices[0].text for c in chunks) == choice.text
    assert chunks[-1].usage.completion_tokens == 10


def test_sdk_tool_calls(sdk):
    resp = sdk.chat.completions.create(model=MODEL, messages=WEATHER, tools=TOOLS)
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=WEATHER, tools=TOOLS, stream=True))
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].function.name == "get_weather" and calls[0].index == 0


def test_sdk_typed_errors(fake_server, sdk):
    with cb.Cerebras(api_key="wrong", base_url=fake_server.base_url, max_retries=0, warm_tcp_connection=False,
                     **STRICT) as bad:
        with pytest.raises(cb.AuthenticationError) as err:
            bad.chat.completions.create(model=MODEL, messages=HI)
        assert err.value.status_code == 401 and err.value.body["code"] == "wrong_api_key"
    with pytest.raises(cb.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=HI)
    fake_server.fault("status:429")
    with pytest.raises(cb.RateLimitError):
        sdk.chat.completions.create(model=MODEL, messages=HI)
    with pytest.raises(cb.BadRequestError):
        sdk.chat.completions.create(model=MODEL, messages=HI, temperature=1.9)
    fake_server.fault("status:503")
    with pytest.raises(cb.InternalServerError):
        sdk.chat.completions.create(model=MODEL, messages=HI)
    fake_server.fault("stream-error:3")
    with pytest.raises(cb.RateLimitError):  # an error event inside a 200 stream
        list(sdk.chat.completions.create(model=MODEL, messages=HI, stream=True))


def test_sdk_retries_honour_retry_after_ms(fake_server):
    fake_server.fault("status:503;retry-after-ms=10", times=2)
    with cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=2,
                     warm_tcp_connection=False, **STRICT) as client:
        assert client.chat.completions.create(model=MODEL, messages=HI).choices[0].message.content
    assert len(fake_server.requests) == 3


async def test_async_sdk(fake_server):
    async with cb.AsyncCerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0, **STRICT) as client:
        assert (await client.models.list()).data[0].id == "gpt-oss-120b"
        resp = await client.chat.completions.create(model=MODEL, messages=HI, max_completion_tokens=8)
        assert resp.usage.completion_tokens == 8 and resp.choices[0].finish_reason == "length"
        text = ""
        async for chunk in await client.chat.completions.create(model=MODEL, messages=HI,
                                                                 max_completion_tokens=8, stream=True):
            text += chunk.choices[0].delta.content or ""
        assert text == resp.choices[0].message.content
        with pytest.raises(cb.NotFoundError):
            await client.chat.completions.create(model="nope", messages=HI)


def test_openai_client(oai, fake_server):
    assert oai.models.list().data[0].id == "gpt-oss-120b"
    assert oai.models.retrieve("qwen-3-32b").id == "qwen-3-32b"
    resp = oai.chat.completions.create(model=MODEL, messages=HI, logprobs=True, top_logprobs=3)
    assert resp.choices[0].logprobs.content[0].top_logprobs[0].logprob <= 0
    stream = oai.chat.completions.create(model=MODEL, messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == resp.choices[0].message.content
    comp = oai.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6, logprobs=2)
    assert len(comp.choices[0].logprobs.tokens) == 6 and comp.usage.completion_tokens == 6
    # openai's Completion type has no null finish_reason, which every streamed chunk (OpenAI's own too) sends
    with openai.OpenAI(api_key="test-key", base_url=fake_server.base_url + "/v1", max_retries=0) as lenient:
        assert "".join(c.choices[0].text for c in lenient.completions.create(
            model=MODEL, prompt="Once upon a time", max_tokens=6, stream=True)) == comp.choices[0].text
    call = oai.chat.completions.create(model=MODEL, messages=WEATHER, tools=TOOLS).choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    fake_server.done = True  # openai stops at data: [DONE] as well
    assert "".join(c.choices[0].delta.content or "" for c in oai.chat.completions.create(
        model=MODEL, messages=HI, stream=True)) == resp.choices[0].message.content


def test_openai_typed_errors(fake_server, oai):
    bad = openai.OpenAI(api_key="wrong", base_url=fake_server.base_url + "/v1", max_retries=0, **STRICT)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="no-such-model", messages=HI)
    fake_server.fault("status:429")
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model=MODEL, messages=HI)
