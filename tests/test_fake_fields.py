"""Request fields as version patch 2 checks them, over real HTTP: unknown fields get the real 400 body (patch 1
ignores them), the known list is the official SDK's, every known field is accepted, and the value checks a
peer suite found missing (n=0, grammar_root) plus the newer fields (prediction, service_tier, ...)."""
import typing

import httpx
import pytest
from cerebras.cloud.sdk.types import completion_create_params as comp_params
from cerebras.cloud.sdk.types.chat import completion_create_params as chat_params

from cerebras_magic import _wire as wire
from tests.test_fake_server import HI, KEY, MODEL, chat, complete

SDK_HEADERS = {"cf_ray", "x_amz_cf_id", "x_delay_time"}  # sent as headers, not body fields


@pytest.fixture
def http(fake_server):
    with httpx.Client(base_url=fake_server.base_url, headers=KEY, timeout=10) as client:
        yield client


def test_the_known_fields_are_the_official_sdk_s():
    chat_fields = set(typing.get_type_hints(chat_params.CompletionCreateParams)) - SDK_HEADERS
    comp_fields = set(typing.get_type_hints(comp_params.CompletionCreateParams)) - SDK_HEADERS
    assert chat_fields == wire.KNOWN_FIELDS["chat"] | set(wire.REMOVED_FIELDS)
    assert comp_fields == wire.KNOWN_FIELDS["completion"]


@pytest.mark.parametrize("kind, name", [("chat", "store"), ("chat", "prompt"), ("completion", "messages"),
                                        ("completion", "reasoning_effort"), ("chat", "continue_final_message")])
def test_unknown_fields_get_the_real_400(http, kind, name):
    send = chat if kind == "chat" else complete
    r = send(http, **{name: True})
    assert r.status_code == 400 and r.json() == {"message": f"body.{name}: property 'body.{name}' is unsupported",
                                                 "type": "invalid_request_error", "param": "validation_error",
                                                 "code": "wrong_api_format"}
    lenient = send(http, headers={"X-Cerebras-Version-Patch": "1"}, **{name: True}) if kind == "chat" else \
        http.post("/v1/completions", json={"model": MODEL, "prompt": "Hi", name: True},
                  headers={"X-Cerebras-Version-Patch": "1"})
    assert lenient.status_code == 200  # patch 1: unknown fields ignored
    assert chat(http, headers={"X-Cerebras-Version-Patch": "2"}, store=True).status_code == 400
    r = chat(http, headers={"X-Cerebras-Version-Patch": "7"})
    assert r.status_code == 400 and "X-Cerebras-Version-Patch must be 1 or 2, got '7'" in r.json()["message"]


def test_every_known_field_is_accepted(http):
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                             "parameters": params}}
    body = dict(clear_thinking=True, frequency_penalty=0.1, logit_bias={"1001": 2}, logprobs=True,
                max_completion_tokens=30, max_tokens=30, min_completion_tokens=1, min_tokens=1, model_parameters={},
                n=2, parallel_tool_calls=False, prediction={"type": "content", "content": "Hello there"},
                presence_penalty=0.1, prompt_cache_key="conversation-1", reasoning_effort="low",
                reasoning_format="parsed", response_format={"type": "text"}, seed=1, service_tier="flex", stop=["zz"],
                stream_options={"include_usage": True}, temperature=0.5, tool_choice="auto", tools=[tool],
                top_logprobs=2, top_p=0.9, user="u1")
    assert set(body) | {"model", "messages", "stream"} == wire.KNOWN_FIELDS["chat"]
    for model in (MODEL, "gpt-oss-120b", "zai-glm-4.7"):
        r = chat(http, model=model, **body)
        assert r.status_code == 200, r.text
    r, chunks = chat(http, stream=True, **body)
    assert r.status_code == 200 and chunks[-1]["usage"]["completion_tokens"] > 0
    comp = dict(best_of=1, echo=True, frequency_penalty=0.1, grammar_root="value", logit_bias={"1001": -2}, logprobs=2,
                max_tokens=5, min_tokens=1, n=1, presence_penalty=0.1, prompt_cache_key="k", reasoning_format="none",
                return_raw_tokens=False, seed=2, stop="zz", stream_options={"include_usage": True}, suffix="!",
                temperature=0.5, top_p=0.9, user="u1")
    assert set(comp) | {"model", "prompt", "stream"} == wire.KNOWN_FIELDS["completion"]
    assert complete(http, **comp).status_code == 200


@pytest.mark.parametrize("send, body, needle", [
    (chat, {"n": 0}, "'n' must be between 1 and 16, got 0."),
    (chat, {"n": 17}, "'n' must be between 1 and 16, got 17."),
    (complete, {"n": 0}, "'n' must be between 1 and 16, got 0."),
    (complete, {"grammar_root": "anything"}, "'grammar_root' must be one of root, fcall, nofcall, insidevalue"),
    (complete, {"grammar_root": 3}, "'grammar_root' must be one of"),
    (chat, {"service_tier": "turbo"}, "'service_tier' must be one of auto, default, flex, priority, got 'turbo'."),
    (chat, {"prediction": {"type": "text", "content": "x"}}, "'prediction' must be {\"type\": \"content\""),
    (chat, {"prediction": "Hello"}, "'prediction' must be"),
    (chat, {"model_parameters": {"top_k": 3}}, "'model_parameters' is not supported"),
    (chat, {"response_format": {"type": "json_object"}, "reasoning_format": "raw", "model": "zai-glm-4.7"},
     "raw cannot be used with response_format json_object"),
    (chat, {"messages": [{"role": "robot", "content": "x"}]}, "'role' must be one of system, developer, user"),
    (chat, {"logit_bias": {"abc": 1}}, "'logit_bias' must map token ids to numbers between -100 and 100."),
    (chat, {"logit_bias": {"5": 101}}, "'logit_bias' must map token ids"),
    (chat, {"parallel_tool_calls": "no"}, "'parallel_tool_calls' must be true or false, got 'no'."),
    (chat, {"logprobs": 2}, "'logprobs' must be true or false, got 2."),
    (chat, {"stream_options": True}, "'stream_options' must be an object"),
])
def test_bad_values_get_one_clear_line(http, send, body, needle):
    r = send(http, **body)
    assert r.status_code == 400 and needle in r.json()["message"] and "\n" not in r.json()["message"]
    assert r.json()["code"] == "wrong_api_format"


@pytest.mark.parametrize("root", wire.GRAMMAR_ROOTS)
def test_every_documented_grammar_root_is_accepted(http, root):
    assert complete(http, grammar_root=root, max_tokens=3).status_code == 200


def test_prediction_counts_accepted_and_rejected_tokens(http):
    natural = chat(http, seed=3).json()
    text, n = natural["choices"][0]["message"]["content"], natural["usage"]["completion_tokens"]
    assert natural["usage"]["completion_tokens_details"] == {"accepted_prediction_tokens": 0,
                                                             "rejected_prediction_tokens": 0}
    same = chat(http, seed=3, prediction={"type": "content", "content": text}).json()["usage"]
    assert same["completion_tokens_details"] == {"accepted_prediction_tokens": n, "rejected_prediction_tokens": 0}
    parts = {"type": "content", "content": [{"type": "text", "text": "Nothing like it at all"}]}
    other = chat(http, seed=3, prediction=parts).json()["usage"]["completion_tokens_details"]
    assert other["accepted_prediction_tokens"] == 0 and other["rejected_prediction_tokens"] == 5


def test_service_tier_is_echoed(http):
    assert chat(http, service_tier="auto").json()["service_tier"] == "default"
    assert chat(http, service_tier="priority").json()["service_tier"] == "priority"
    assert "service_tier" not in chat(http).json()
    _, chunks = chat(http, stream=True, service_tier="flex")
    assert chunks[-1]["service_tier"] == "flex"
    assert chat(http, messages=HI).status_code == 200
