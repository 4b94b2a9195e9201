"""Prompt caching and rate limits of the fake server over real HTTP: cached tokens in whole 128-token blocks
of a prefix seen recently, the documented request and token headers plus the uncached-token bucket, and
real 429s with retry-after once a small limit is spent (charged prompt + max completion tokens up front)."""
import time

import httpx
import openai
import pytest
from cerebras.cloud import sdk as cb

from cerebras_magic import _wire as wire
from cerebras_magic.testing import FakeServer
from tests.test_fake_server import KEY, MODEL, chat, complete

SYSTEM = {"role": "system", "content": "You are a careful assistant. " + "Follow the house rules exactly. " * 60}
TURN1 = [SYSTEM, {"role": "user", "content": "First question?"}]


def cached(resp) -> int:
    return resp.json()["usage"]["prompt_tokens_details"]["cached_tokens"]


@pytest.fixture
def http(fake_server):
    with httpx.Client(base_url=fake_server.base_url, headers=KEY, timeout=10) as client:
        yield client


@pytest.fixture
def server():
    with FakeServer(tokens_per_second=None, ttft=0, cache_ttl=0.2) as srv:
        yield srv


# ---- prompt cache -------------------------------------------------------------------------------------------
def test_a_repeated_prefix_is_cached_in_whole_blocks(fake_server, http):
    first = chat(http, messages=TURN1)
    prompt = first.json()["usage"]["prompt_tokens"]
    assert prompt > 256 and cached(first) == 0
    assert cached(chat(http, messages=TURN1)) == prompt // 128 * 128  # the same prompt: every whole block
    answer = first.json()["choices"][0]["message"]["content"]
    turn2 = TURN1 + [{"role": "assistant", "content": answer}, {"role": "user", "content": "And the second?"}]
    second = chat(http, messages=turn2)
    hit = cached(second)
    assert hit % 128 == 0 and prompt - 128 < hit <= prompt < second.json()["usage"]["prompt_tokens"]
    assert cached(chat(http, messages=turn2, model="gpt-oss-120b")) == 0  # caches are per model
    assert cached(chat(http, messages=[{"role": "system", "content": "Other. " + SYSTEM["content"]}])) == 0
    fake_server.reset()
    assert cached(chat(http, messages=turn2)) == 0


def test_completions_and_clients_see_cached_tokens(fake_server, http):
    prompt = "Once upon a time " * 80
    assert complete(http, prompt=prompt, max_tokens=3).json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    again = complete(http, prompt=prompt + "there was more", max_tokens=3).json()["usage"]
    assert again["prompt_tokens_details"]["cached_tokens"] == 256
    with cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0, warm_tcp_connection=False,
                     _strict_response_validation=True) as sdk:
        sdk.chat.completions.create(model=MODEL, messages=TURN1, max_completion_tokens=5)
        usage = sdk.chat.completions.create(model=MODEL, messages=TURN1, max_completion_tokens=5).usage
        assert usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens // 128 * 128 > 0
        streamed = list(sdk.chat.completions.create(model=MODEL, messages=TURN1, max_completion_tokens=5, stream=True))
        assert streamed[-1].usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens_details.cached_tokens


def test_cache_entries_expire(server):
    with httpx.Client(base_url=server.base_url, headers=KEY) as http:
        chat(http, messages=TURN1)
        assert cached(chat(http, messages=TURN1)) > 0
        time.sleep(0.3)  # past the 0.2 s TTL this server was given (the real one is 5 minutes)
        assert cached(chat(http, messages=TURN1)) == 0


# ---- rate limits ----------------------------------------------------------------------------------------------
def test_headers_show_the_request_and_both_token_buckets():
    with FakeServer(tokens_per_second=None, ttft=0, tokens_per_minute=3000) as srv:  # slow refill: ~50 tokens/s
        with httpx.Client(base_url=srv.base_url, headers=KEY) as http:
            r = chat(http, messages=TURN1, max_completion_tokens=20)
            again = chat(http, messages=TURN1, max_completion_tokens=20)
    for bucket in ("requests-day", "tokens-minute", "uncached-tokens-minute"):
        for part in ("limit", "remaining", "reset"):
            float(r.headers[f"x-ratelimit-{part}-{bucket}"])
    assert "x-ratelimit-limit-requests-minute" not in r.headers  # only when the server was given one
    charged = r.json()["usage"]["prompt_tokens"] + 20  # prompt + max completion tokens, up front
    assert 3000 - charged <= int(r.headers["x-ratelimit-remaining-tokens-minute"]) < 3000 - charged + 25
    total = int(again.headers["x-ratelimit-remaining-tokens-minute"])
    uncached = int(again.headers["x-ratelimit-remaining-uncached-tokens-minute"])
    assert abs(uncached - total - cached(again)) <= 1 and cached(again) > 0  # cached tokens spare the uncached bucket


def test_requests_per_minute_give_real_429s():
    with FakeServer(tokens_per_second=None, ttft=0, requests_per_minute=2) as srv:
        with httpx.Client(base_url=srv.base_url, headers=KEY) as http:
            assert [chat(http).status_code for _ in range(2)] == [200, 200]
            r = chat(http)
        assert r.status_code == 429 and r.json() == wire.REQUESTS_EXCEEDED
        assert r.headers["x-ratelimit-limit-requests-minute"] == "2"
        assert r.headers["x-ratelimit-remaining-requests-minute"] == "0"
        assert int(r.headers["retry-after"]) >= 1 and 0 < int(r.headers["retry-after-ms"]) <= 30_000
        with openai.OpenAI(api_key="test-key", base_url=srv.base_url + "/v1", max_retries=0) as oai:
            with pytest.raises(openai.RateLimitError):
                oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])


def test_tokens_per_minute_charge_the_max_up_front():
    with FakeServer(tokens_per_second=None, ttft=0, tokens_per_minute=1000) as srv:
        with httpx.Client(base_url=srv.base_url, headers=KEY) as http:
            ok = chat(http, max_completion_tokens=600)
            assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] < 100  # charged 600 anyway
            r = chat(http, max_completion_tokens=600)
    assert r.status_code == 429 and r.json() == wire.TOKENS_EXCEEDED
    assert float(r.headers["x-ratelimit-reset-tokens-minute"]) > 0 and int(r.headers["retry-after"]) >= 1


def test_the_uncached_bucket_lets_cached_prompts_through():
    with FakeServer(tokens_per_second=None, ttft=0, uncached_tokens_per_minute=600) as srv:
        with httpx.Client(base_url=srv.base_url, headers=KEY) as http:
            first = chat(http, messages=TURN1, max_completion_tokens=10)
            assert first.status_code == 200 and first.json()["usage"]["prompt_tokens"] > 300
            assert chat(http, messages=TURN1, max_completion_tokens=10).status_code == 200  # mostly cached
            other = [{"role": "system", "content": "Different. " + SYSTEM["content"]}, TURN1[1]]
            r = chat(http, messages=other, max_completion_tokens=10)  # nothing cached: over the bucket
    assert r.status_code == 429 and r.json()["code"] == "token_quota_exceeded"
    assert r.headers["x-ratelimit-limit-uncached-tokens-minute"] == "600"
