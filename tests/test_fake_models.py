"""The fake server's model catalogue over real HTTP: today's ids first, retired ones marked deprecated,
`/public/v1/models[/{id}]` (no key) in the official SDK's `PublicModel` shape with prices, limits and real
creation dates, and `/v1/models?format=openrouter|huggingface` as the SDK types them."""
import time

import httpx
import pytest
from cerebras.cloud import sdk as cb
from cerebras.cloud.sdk.types.model_retrieve_response import PublicModel

from cerebras_magic.testing import FakeServer
from cerebras_magic.testing.api import DEFAULT_MODELS
from tests.test_fake_server import HI, KEY

RETIRED = {"llama3.1-8b", "qwen-3-32b", "deepseek-r1-distill-llama-70b", "qwen-3-235b-a22b-instruct-2507"}
CURRENT = ["gpt-oss-120b", "llama-3.3-70b", "zai-glm-4.7", "gemma-4-31b", "qwen-3.8-27b"]


def public(fake_server, path=""):
    return httpx.get(f"{fake_server.base_url}/public/v1/models{path}")  # no Authorization header


def test_current_models_first_and_retired_ones_still_served(fake_server):
    assert list(DEFAULT_MODELS[:len(CURRENT)]) == CURRENT and RETIRED <= set(DEFAULT_MODELS)
    entries = {m["id"]: m for m in public(fake_server).json()["data"]}
    assert list(entries) == list(DEFAULT_MODELS)
    assert all(entries[m]["deprecated"] for m in RETIRED) and not any(entries[m]["deprecated"] for m in CURRENT)
    with httpx.Client(base_url=fake_server.base_url, headers=KEY) as http:
        for model in RETIRED:  # older code keeps working
            assert http.post("/v1/chat/completions", json={"model": model, "messages": HI}).status_code == 200
        r = http.post("/v1/chat/completions", json={"model": "llama-9-1t", "messages": HI})
        assert r.status_code == 404 and r.json()["code"] == "model_not_found"


def test_public_entries_are_the_sdk_s_public_model(fake_server):
    now = time.time()
    for entry in public(fake_server).json()["data"]:
        model = PublicModel.model_validate(entry)  # the SDK's pydantic type, strict about required fields
        assert 1_600_000_000 < model.created < now  # a real epoch, not a placeholder
        assert float(model.pricing.prompt) > 0 and float(model.pricing.completion) > 0
        assert float(entry["pricing"]["input_cache_read"]) <= float(model.pricing.prompt)
        assert 0 < model.limits.max_completion_tokens <= model.limits.max_context_length
        assert model.supported_parameters.max_completion_tokens and model.capabilities.streaming
        assert model.capabilities.reasoning == (model.id in {"gpt-oss-120b", "zai-glm-4.7", "qwen-3.8-27b",
                                                              "qwen-3-32b", "qwen-3-235b-a22b",
                                                              "deepseek-r1-distill-llama-70b"})
    oss = public(fake_server, "/gpt-oss-120b").json()  # the values the API reference shows for it
    assert (oss["created"], oss["owned_by"], oss["pricing"]["prompt"], oss["pricing"]["completion"]) == \
        (1754438400, "OpenAI", "0.00000035", "0.00000075")
    assert oss["limits"]["max_context_length"] == 131072 and oss["limits"]["max_completion_tokens"] == 40960
    assert oss["capabilities"]["parallel_tool_calls"] is False and oss["architecture"]["instruct_type"] == "harmony"
    r = public(fake_server, "/nope")
    assert r.status_code == 404 and r.json()["code"] == "model_not_found"


def test_list_formats_parse_with_the_sdk(fake_server):
    with cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0, warm_tcp_connection=False,
                     _strict_response_validation=True) as sdk:
        router = sdk.models.list(format="openrouter")
        assert router.data[0].id == "cerebras/gpt-oss-120b" and router.data[0].context_length == 131072
        hugging = sdk.models.list(format="huggingface")
        assert hugging.data[0].pricing.input == 0.35 and hugging.data[0].hugging_face_id == "openai/gpt-oss-120b"
        assert sdk.models.list(format="default").data[0].id == "gpt-oss-120b"
        assert sdk.models.retrieve("zai-glm-4.7").created == 1766361600
    r = httpx.get(fake_server.base_url + "/v1/models?format=yaml", headers=KEY)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]


@pytest.mark.parametrize("models", [["my-model"], ["gpt-oss-120b", "llama3.1-8b"]])
def test_a_custom_model_list_is_what_is_served(models):
    with FakeServer(tokens_per_second=None, ttft=0, models=models) as srv:
        data = httpx.get(srv.base_url + "/v1/models", headers=KEY).json()["data"]
        assert [m["id"] for m in data] == models
        assert all(PublicModel.model_validate(m) for m in httpx.get(srv.base_url + "/public/v1/models").json()["data"])
