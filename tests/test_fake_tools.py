"""Fake tool calls over real HTTP (issue 16): which tool the prompt mentions, arguments from its schema and the
prompt, parallel calls, `tool_choice`, an answer that uses the tool results so a loop ends, streamed calls
whole or split, the bad-tool-args fault, and both official clients parsing all of it strictly."""
import json

import httpx
import jsonschema
import openai
import pytest
from cerebras.cloud import sdk as cb

from cerebras_magic.testing import FAULTS
from tests.test_fake_server import KEY, MODEL, chat

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "required": ["city"],
                   "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}}}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Sum two integers",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}
TOOLS = [WEATHER, ADD]
STRICT = {"_strict_response_validation": True}


def user(text):
    return [{"role": "user", "content": text}]


def calls_of(resp) -> list:
    return resp.json()["choices"][0]["message"].get("tool_calls") or []


def args(call) -> dict:
    return json.loads(call["function"]["arguments"])


@pytest.fixture
def http(fake_server):
    with httpx.Client(base_url=fake_server.base_url, headers=KEY, timeout=10) as client:
        yield client


def test_the_prompt_picks_the_tool_and_fills_its_arguments(http):
    r = chat(http, tools=TOOLS, messages=user("What's the weather in Paris, in fahrenheit?"))
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and "content" not in choice["message"]
    (call,) = calls_of(r)
    assert call["function"]["name"] == "get_weather" and args(call) == {"city": "Paris", "unit": "fahrenheit"}
    (call,) = calls_of(chat(http, tools=TOOLS, messages=user("Please add 2 and 40.")))
    assert call["function"]["name"] == "add" and args(call) == {"a": 2, "b": 40}
    (call,) = calls_of(chat(http, tools=TOOLS, messages=user("Add two numbers: a = 7, b = 5")))  # name: value
    assert args(call) == {"a": 7, "b": 5}
    (call,) = calls_of(chat(http, tools=TOOLS, messages=user('Is it raining? city: "New York"')))
    assert args(call)["city"] == "New York"  # description words ("city") mention the tool too
    assert calls_of(chat(http, tools=TOOLS, messages=user("Tell me a story."))) == []  # no tool named: text
    for call in calls_of(chat(http, tools=TOOLS, messages=user("weather for Oslo, then add 1 and 2"))):
        jsonschema.validate(args(call), next(t for t in TOOLS if t["function"]["name"] == call["function"]["name"])
                            ["function"]["parameters"])


def test_several_things_give_parallel_calls(http):
    calls = calls_of(chat(http, tools=TOOLS, messages=user("Compare the weather in Paris and Rome")))
    assert [(c["function"]["name"], args(c)["city"]) for c in calls] == [("get_weather", "Paris"),
                                                                          ("get_weather", "Rome")]
    assert len({c["id"] for c in calls}) == 2
    two = calls_of(chat(http, tools=TOOLS, messages=user("Weather in Lima, and add 3 and 4")))
    assert [c["function"]["name"] for c in two] == ["get_weather", "add"]
    one = calls_of(chat(http, tools=TOOLS, parallel_tool_calls=False, messages=user("Weather in Paris and Rome")))
    assert [args(c)["city"] for c in one] == ["Paris"]
    serial = calls_of(chat(http, model="gpt-oss-120b", tools=TOOLS, messages=user("Weather in Paris and Rome")))
    assert len(serial) == 1  # gpt-oss-120b lists parallel_tool_calls: false


def test_tool_choice_is_honoured(http):
    story = user("Tell me a story.")
    assert calls_of(chat(http, tools=TOOLS, tool_choice="none", messages=user("Weather in Paris?"))) == []
    assert [c["function"]["name"] for c in calls_of(chat(http, tools=TOOLS, tool_choice="required", messages=story))] \
        == ["get_weather"]  # nothing mentioned: the first tool
    named = {"type": "function", "function": {"name": "add"}}
    (call,) = calls_of(chat(http, tools=TOOLS, tool_choice=named, messages=user("Weather in Paris?")))
    assert call["function"]["name"] == "add" and set(args(call)) == {"a", "b"}
    assert calls_of(chat(http, tools=TOOLS, tool_choice="auto", messages=story)) == []


def test_tool_results_end_the_loop_with_an_answer_that_uses_them(http):
    convo = user("Weather in Paris and Rome?")
    first = chat(http, tools=TOOLS, messages=convo)
    calls = calls_of(first)
    convo += [first.json()["choices"][0]["message"]]
    convo += [{"role": "tool", "tool_call_id": c["id"], "content": json.dumps({"city": args(c)["city"], "temp_c": t})}
              for c, t in zip(calls, (21, 25))]
    final = chat(http, tools=TOOLS, messages=convo).json()["choices"][0]
    assert final["finish_reason"] == "stop" and "tool_calls" not in final["message"]
    text = final["message"]["content"]
    assert "get_weather returned" in text and '"temp_c": 21' in text and '"temp_c": 25' in text
    again = calls_of(chat(http, tools=TOOLS, tool_choice="required", messages=convo))
    assert again  # "required" still forces a call, as the API does


def test_streamed_calls_come_whole_or_split(http):
    body = dict(tools=TOOLS, messages=user("Compare the weather in Paris and Rome"))
    whole = calls_of(chat(http, **body))
    _, chunks = chat(http, stream=True, **body)
    deltas = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert len(deltas) == 1 and [d["index"] for d in deltas[0]] == [0, 1]  # all whole, in one chunk
    assert [{k: v for k, v in d.items() if k != "index"} for d in deltas[0]] == whole
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    _, split = chat(http, stream=True, headers={"x-fake-fault": "split-tool-calls"}, **body)
    pieces = [d for c in split for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert len(pieces) > 4 and all(p["type"] == "function" for p in pieces)
    built = {}
    for p in pieces:
        one = built.setdefault(p["index"], {"id": None, "name": None, "arguments": ""})
        one["id"] = p.get("id") or one["id"]
        one["name"] = p["function"].get("name") or one["name"]
        one["arguments"] += p["function"].get("arguments") or ""
    assert [(b["id"], b["name"], b["arguments"]) for b in built.values()] == \
        [(w["id"], w["function"]["name"], w["function"]["arguments"]) for w in whole]


def test_bad_tool_args_fault_breaks_the_json(http, fake_server):
    assert "bad-tool-args" in FAULTS and "split-tool-calls" in FAULTS
    body = dict(tools=TOOLS, messages=user("Weather in Paris?"))
    fake_server.fault("bad-tool-args")
    (call,) = calls_of(chat(http, **body))
    with pytest.raises(ValueError):
        json.loads(call["function"]["arguments"])
    _, chunks = chat(http, stream=True, headers={"x-fake-fault": "bad-tool-args,split-tool-calls"}, **body)
    text = "".join(d["function"].get("arguments") or "" for c in chunks for d in c["choices"][0]["delta"].get(
        "tool_calls", []))
    with pytest.raises(ValueError):
        json.loads(text)
    assert args(calls_of(chat(http, **body))[0]) == {"city": "Paris"}  # the fault was for one request


def test_both_clients_run_a_tool_loop(fake_server):
    def weather(city):
        return {"city": city, "temp_c": len(city) * 3}

    sdk = cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0, warm_tcp_connection=False,
                      **STRICT)
    oai = openai.OpenAI(api_key="test-key", base_url=fake_server.base_url + "/v1", max_retries=0, **STRICT)
    for client in (sdk, oai):
        messages = user("What is the weather in Paris and Rome?")
        for step in range(4):
            msg = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
            if not msg.tool_calls:
                break
            messages.append({"role": "assistant", "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.function.name,
                                                             "arguments": c.function.arguments}}
                for c in msg.tool_calls]})
            messages += [{"role": "tool", "tool_call_id": c.id,
                          "content": json.dumps(weather(**json.loads(c.function.arguments)))} for c in msg.tool_calls]
        assert step == 1 and '"temp_c": 15' in msg.content and '"temp_c": 12' in msg.content
        stream = client.chat.completions.create(model=MODEL, messages=user("Weather in Oslo?"), tools=TOOLS,
                                                stream=True, extra_headers={"x-fake-fault": "split-tool-calls"})
        got = [tc for chunk in stream for tc in (chunk.choices[0].delta.tool_calls or [])]
        assert got[0].function.name == "get_weather" and json.loads("".join(t.function.arguments or "" for t in got)) \
            == {"city": "Oslo"}
    sdk.close()
    oai.close()
