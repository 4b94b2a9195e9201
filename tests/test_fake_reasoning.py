"""The fake server's reasoning models over real HTTP: the default reasoning format per family, every
`reasoning_format`, `reasoning_effort` (lengths and "none"), reasoning logprobs, the removed
`disable_reasoning`, GLM's `clear_thinking`, and continuing a trailing assistant message."""
import json

import httpx
import openai
import pytest
from cerebras.cloud import sdk as cb

from cerebras_magic import _wire as wire
from cerebras_magic.testing import FakeServer
from tests.test_fake_server import KEY, chat, content_of

HI = [{"role": "user", "content": "Think it over, then say hello"}]
STRICT = {"_strict_response_validation": True}


@pytest.fixture
def http(fake_server):
    with httpx.Client(base_url=fake_server.base_url, headers=KEY, timeout=10) as client:
        yield client


@pytest.fixture
def sdk(fake_server):
    with cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0, warm_tcp_connection=False,
                     **STRICT) as client:
        yield client


def ask(http, model, **body):
    r = chat(http, model=model, messages=body.pop("messages", HI), **body)
    assert r.status_code == 200, r.text
    return r.json()


def joined(entries) -> str:
    return bytes(b for e in entries for b in e["bytes"]).decode()


# ---- defaults per family -----------------------------------------------------------------------------------
def test_default_formats_per_family(http):
    assert [wire.default_reasoning_format(m) for m in ("gpt-oss-120b", "zai-glm-4.7", "qwen-3.8-27b", "llama-3.3-70b",
                                                        "gemma-4-31b")] == ["text_parsed", "text_parsed", "raw",
                                                                            None, None]
    assert wire.default_reasoning_format("qwen-3.8-27b", {"type": "json_object"}) == "hidden"
    for model in ("gpt-oss-120b", "zai-glm-4.7"):  # text_parsed: apart in `reasoning`, logprobs together
        data = ask(http, model, logprobs=True)
        msg, lp = data["choices"][0]["message"], data["choices"][0]["logprobs"]["content"]
        assert msg["reasoning"] and "<think>" not in msg["content"] and "reasoning_logprobs" not in data["choices"][0]
        assert joined(lp) == msg["reasoning"] + msg["content"] and len(lp) == data["usage"]["completion_tokens"]
    msg = ask(http, "qwen-3.8-27b")["choices"][0]["message"]  # Qwen3: raw, <think> inside the content
    assert "reasoning" not in msg and msg["content"].startswith("<think>") and "</think>\n\n" in msg["content"]
    data = ask(http, "qwen-3.8-27b", response_format={"type": "json_object"})  # ... but hidden for JSON
    assert isinstance(json.loads(data["choices"][0]["message"]["content"]), dict)
    assert "reasoning" not in data["choices"][0]["message"]
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"]
    for model in ("llama-3.3-70b", "gemma-4-31b"):
        data = ask(http, model, reasoning_effort="high", reasoning_format="parsed")
        assert "reasoning" not in data["choices"][0]["message"]
        assert "reasoning_tokens" not in data["usage"]["completion_tokens_details"]


def test_every_reasoning_format(http, sdk):
    plain = ask(http, "zai-glm-4.7", reasoning_format="parsed", logprobs=True, top_logprobs=2)["choices"][0]
    thought, answer = plain["message"]["reasoning"], plain["message"]["content"]
    assert joined(plain["logprobs"]["content"]) == answer and joined(plain["reasoning_logprobs"]["content"]) == thought
    raw = ask(http, "zai-glm-4.7", reasoning_format="raw", logprobs=True)["choices"][0]
    assert raw["message"]["content"] == f"<think>{thought}</think>\n\n{answer}" and "reasoning" not in raw["message"]
    assert joined(raw["logprobs"]["content"]) == raw["message"]["content"] and "reasoning_logprobs" not in raw
    oss = ask(http, "gpt-oss-120b", reasoning_format="parsed")["choices"][0]["message"]
    glued = ask(http, "gpt-oss-120b", reasoning_format="raw")["choices"][0]["message"]["content"]
    assert glued == oss["reasoning"] + oss["content"]  # GPT-OSS has no thinking tokens: no separator
    hidden = ask(http, "zai-glm-4.7", reasoning_format="hidden", logprobs=True)
    assert hidden["choices"][0]["message"] == {"role": "assistant", "content": answer}
    assert joined(hidden["choices"][0]["logprobs"]["content"]) == answer
    assert hidden["usage"]["completion_tokens"] == len(plain["logprobs"]["content"]) + len(
        plain["reasoning_logprobs"]["content"]) and hidden["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert ask(http, "zai-glm-4.7", reasoning_format="none")["choices"][0]["message"]["reasoning"] == thought
    r = chat(http, model="zai-glm-4.7", reasoning_format="verbose")
    assert r.status_code == 400 and "'reasoning_format' must be one of none, parsed" in r.json()["message"]
    for fmt in wire.REASONING_FORMATS:  # the official SDK parses each, strictly
        resp = sdk.chat.completions.create(model="zai-glm-4.7", messages=HI, reasoning_format=fmt, logprobs=True)
        assert resp.choices[0].message.content is not None


def test_streamed_reasoning_and_its_logprobs(http, sdk):
    whole = ask(http, "gpt-oss-120b", reasoning_format="parsed", logprobs=True)["choices"][0]
    _, chunks = chat(http, stream=True, model="gpt-oss-120b", messages=HI, reasoning_format="parsed", logprobs=True)
    assert "".join(c["choices"][0]["delta"].get("reasoning", "") for c in chunks) == whole["message"]["reasoning"]
    assert content_of(chunks) == whole["message"]["content"]
    streamed = [e for c in chunks for e in (c["choices"][0].get("reasoning_logprobs") or {}).get("content", [])]
    assert streamed == whole["reasoning_logprobs"]["content"]
    _, merged = chat(http, stream=True, model="gpt-oss-120b", messages=HI, logprobs=True)  # text_parsed
    assert not any("reasoning_logprobs" in c["choices"][0] for c in merged)
    assert joined(e for c in merged for e in (c["choices"][0].get("logprobs") or {}).get("content", [])) == \
        whole["message"]["reasoning"] + whole["message"]["content"]
    stream = sdk.chat.completions.create(model="gpt-oss-120b", messages=HI, reasoning_format="parsed", logprobs=True,
                                         stream=True)
    assert sum(len(c.choices[0].reasoning_logprobs.content) for c in stream if c.choices[0].reasoning_logprobs) \
        == len(whole["reasoning_logprobs"]["content"])


# ---- effort --------------------------------------------------------------------------------------------------
def test_reasoning_effort_sets_the_length_and_none_turns_it_off(http):
    sizes = {}
    for effort in ("low", "medium", "high"):
        usage = ask(http, "gpt-oss-120b", reasoning_effort=effort)["usage"]
        assert ask(http, "gpt-oss-120b", reasoning_effort=effort)["usage"] == usage  # deterministic
        sizes[effort] = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 < sizes["low"] < sizes["medium"] < sizes["high"]
    assert ask(http, "gpt-oss-120b")["usage"]["completion_tokens_details"]["reasoning_tokens"] == sizes["medium"]
    off = ask(http, "gpt-oss-120b", reasoning_effort="none")
    assert "reasoning" not in off["choices"][0]["message"]
    assert "reasoning_tokens" not in off["usage"]["completion_tokens_details"]
    assert ask(http, "qwen-3.8-27b", reasoning_effort="none")["choices"][0]["message"]["content"][:7] != "<think>"
    r = chat(http, model="gpt-oss-120b", reasoning_effort="max")
    assert r.status_code == 400 and r.json() == wire.bad_request(
        "'reasoning_effort' must be one of none, low, medium, high, got 'max'.")[1]


def test_reasoning_counts_against_the_max(http):
    data = ask(http, "gpt-oss-120b", max_completion_tokens=10)
    assert data["usage"]["completion_tokens"] == 10 and data["choices"][0]["finish_reason"] == "length"
    assert data["choices"][0]["message"]["content"] == "" and data["choices"][0]["message"]["reasoning"]
    roomy = ask(http, "gpt-oss-120b", reasoning_effort="low", max_completion_tokens=200)
    assert roomy["usage"]["completion_tokens"] <= 200 and roomy["choices"][0]["message"]["content"]


def test_disable_reasoning_was_removed_but_patch_1_still_takes_it(http):
    r = chat(http, model="gpt-oss-120b", disable_reasoning=True)
    assert r.status_code == 400 and r.json()["code"] == "wrong_api_format"
    assert r.json()["message"] == "'disable_reasoning' was removed on 2026-07-21; use reasoning_effort=\"none\" " \
                                  "to turn reasoning off."
    old = chat(http, model="gpt-oss-120b", disable_reasoning=True, headers={"X-Cerebras-Version-Patch": "1"})
    assert old.status_code == 200 and "reasoning" not in old.json()["choices"][0]["message"]


def test_clear_thinking_keeps_glm_s_earlier_reasoning_only_when_false(http):
    convo = [{"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello.", "reasoning": "The user greets me, so I greet back " * 5},
             {"role": "user", "content": "And now?"}]
    tokens = {flag: ask(http, "zai-glm-4.7", messages=convo, **({} if flag is None else {"clear_thinking": flag}))
              ["usage"]["prompt_tokens"] for flag in (None, True, False)}
    assert tokens[None] == tokens[True] < tokens[False]
    other = {flag: ask(http, "gpt-oss-120b", messages=convo, clear_thinking=flag)["usage"]["prompt_tokens"]
             for flag in (True, False)}
    assert other[True] == other[False] == tokens[True]  # accepted and ignored by the other models
    assert chat(http, model="zai-glm-4.7", clear_thinking="yes").status_code == 400


# ---- continuing a partial assistant message -------------------------------------------------------------------
def test_a_trailing_assistant_message_is_continued(http):
    natural = ask(http, "llama-3.3-70b", seed=4)["choices"][0]["message"]["content"]
    for cut in (1, 7, 20, len(natural) // 2, len(natural) - 1):  # on and inside token boundaries
        prefix = HI + [{"role": "assistant", "content": natural[:cut]}]
        rest = ask(http, "llama-3.3-70b", seed=4, messages=prefix)
        assert rest["choices"][0]["message"]["content"] == natural[cut:]
        _, chunks = chat(http, stream=True, model="llama-3.3-70b", seed=4, messages=prefix)
        assert content_of(chunks) == natural[cut:]
    other = HI + [{"role": "assistant", "content": "Well, actually"}]  # a start the model would not have made
    fresh = ask(http, "llama-3.3-70b", seed=4, messages=other)["choices"][0]["message"]["content"]
    assert fresh and fresh.startswith(" ") and fresh == ask(http, "llama-3.3-70b", seed=4, messages=other)[
        "choices"][0]["message"]["content"] and not fresh.startswith(" Well")
    thinking = ask(http, "gpt-oss-120b", messages=other)["choices"][0]  # a continued answer does not think again
    assert "reasoning" not in thinking["message"] and thinking["message"]["content"]


def test_continuing_can_be_switched_off(http):
    natural = ask(http, "llama-3.3-70b", seed=4)["choices"][0]["message"]["content"]
    prefix = HI + [{"role": "assistant", "content": natural[:20]}]
    r = chat(http, model="llama-3.3-70b", seed=4, messages=prefix, headers={"x-fake-continue": "0"})
    assert r.json()["choices"][0]["message"]["content"] != natural[20:]  # a new turn instead
    with FakeServer(tokens_per_second=None, ttft=0, continue_final_message=False) as srv:
        with httpx.Client(base_url=srv.base_url, headers=KEY) as other:
            turn = chat(other, model="llama-3.3-70b", seed=4, messages=prefix).json()
    assert turn["choices"][0]["message"]["content"] == r.json()["choices"][0]["message"]["content"]


def test_clients_parse_a_continued_answer(fake_server, sdk):
    natural = sdk.chat.completions.create(model="llama-3.3-70b", messages=HI, seed=9).choices[0].message.content
    prefix = HI + [{"role": "assistant", "content": natural[:15]}]
    assert sdk.chat.completions.create(model="llama-3.3-70b", messages=prefix, seed=9).choices[0].message.content \
        == natural[15:]
    with openai.OpenAI(api_key="test-key", base_url=fake_server.base_url + "/v1", max_retries=0, **STRICT) as oai:
        assert oai.chat.completions.create(model="llama-3.3-70b", messages=prefix, seed=9).choices[0].message.content \
            == natural[15:]
