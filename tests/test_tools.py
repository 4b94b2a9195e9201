"""Tool calling from Python over real HTTP to the fake server (issue 16): schemas from signatures, the loop,
parallel async tools, errors sent back, max steps, history rows linked by run id, replay, both official
clients with our schemas."""
import asyncio
import enum
import json
import threading
import time
from typing import Annotated, Literal, Optional

import jsonschema
import openai
import pytest
from cerebras.cloud import sdk as cb
from pydantic import BaseModel, Field

import cerebras_magic as cm
from cerebras_magic.core import Tool, arun_tools
from cerebras_magic.core._steps import HISTORY_CHARS


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
    """Current weather for a city.

    Args:
        city: The city's name, e.g. Paris.
        unit: Celsius or Fahrenheit.
    """
    return {"city": city, "temp": len(city) * 3, "unit": unit}


class Unit(enum.Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Place(BaseModel):
    city: str
    country: Optional[str] = None


def forecast(place: Place, unit: Unit, days: Annotated[int, Field(ge=1, le=7, description="How many days.")],
             note: Optional[str]) -> str:
    """Weather forecast for a place."""
    return f"{place.city}: sunny for {days} days in {unit.value}"


def posts(srv):
    return [r for r in srv.requests if r.method == "POST"]


# -- schemas ---------------------------------------------------------------------------------------
def test_schema_from_signature_and_docstring():
    spec = Tool(get_weather).spec
    fn = spec["function"]
    assert spec["type"] == "function" and fn["name"] == "get_weather"
    assert fn["description"] == "Current weather for a city."  # the Args section goes to the parameters
    params = fn["parameters"]
    assert params["properties"]["city"] == {"type": "string", "description": "The city's name, e.g. Paris."}
    assert params["properties"]["unit"]["enum"] == ["C", "F"] and params["properties"]["unit"]["default"] == "C"
    assert params["required"] == ["city"]
    assert "strict" not in fn  # a default makes `unit` optional: strict mode would force the model to send it
    assert "title" not in json.dumps(params)


def test_pydantic_models_enums_optional_and_annotated():
    t = Tool(forecast)
    params = t.spec["function"]["parameters"]
    assert params["properties"]["place"] == {"$ref": "#/$defs/Place"}
    assert params["$defs"]["Place"]["required"] == ["city"]
    assert params["properties"]["unit"] == {"$ref": "#/$defs/Unit"}
    assert params["$defs"]["Unit"] == {"enum": ["celsius", "fahrenheit"], "type": "string"}
    assert params["properties"]["days"] == {"description": "How many days.", "maximum": 7, "minimum": 1,
                                            "type": "integer"}
    assert params["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}  # no default: required
    assert params["required"] == ["place", "unit", "days", "note"] and params["additionalProperties"] is False
    # minimum/maximum are not among the keywords Cerebras documents for strict mode, and Place has a default
    assert t.strict is False and "strict" not in t.spec["function"]
    kwargs = t.validate('{"place": {"city": "Paris"}, "unit": "celsius", "days": 2, "note": null}')
    assert kwargs == {"place": Place(city="Paris"), "unit": Unit.celsius, "days": 2, "note": None}


def test_strict_when_the_schema_allows():
    def add(a: int, b: Optional[int], unit: Literal["m", "km"], place: Place) -> int:
        """Add two numbers."""
        return a + (b or 0)
    # Place has a default (country): not strict; a model without one is
    assert Tool(add).strict is False

    class Point(BaseModel):
        x: float
        y: float

    def distance(a: Point, b: Point, unit: Literal["m", "km"], note: Optional[str]) -> float:
        """Distance between two points."""
        return 0.0
    t = Tool(distance)
    fn = t.spec["function"]
    assert t.strict and fn["strict"] is True
    assert fn["parameters"]["additionalProperties"] is False
    assert fn["parameters"]["$defs"]["Point"]["additionalProperties"] is False  # every object closed
    assert fn["parameters"]["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    with pytest.raises(cm.ParameterError, match="strict mode needs every parameter required"):
        Tool(get_weather, strict=True)


def test_bad_functions_are_one_line():
    def star(*cities):
        pass
    with pytest.raises(cm.ParameterError, match=r"tools: star\(\*cities\): a tool takes named parameters only"):
        Tool(star)
    with pytest.raises(cm.ParameterError, match="not a function"):
        Tool(42)
    with pytest.raises(cm.ParameterError, match="cannot be a tool name"):
        Tool(lambda x: x)  # "<lambda>"
    assert Tool(lambda x: x, name="echo").spec["function"]["parameters"]["properties"] == {"x": {}}


@pytest.mark.parametrize("fn,prompt", [(get_weather, "What's the weather in Paris? unit: F"),
                                       (forecast, "Forecast for Paris in fahrenheit for 3 days")])
def test_schemas_round_trip_over_http(session, fake_server, fn, prompt):
    """The fake server fills our schema from the prompt; its arguments validate against the schema (jsonschema)
    and through the function's pydantic model into the call."""
    r = cm.chat(prompt, tools=[fn], tool_choice=fn.__name__)
    sent = posts(fake_server)[0].json["tools"][0]
    assert sent == Tool(fn).spec
    (step,) = r.tool_calls
    jsonschema.validate(step.arguments, sent["function"]["parameters"])
    assert step.status == "ok" and step.error is None
    if fn is forecast:
        assert step.result == "Paris: sunny for 3 days in fahrenheit"  # a Place, a Unit and an int arrived
    else:
        assert step.result == {"city": "Paris", "temp": 15, "unit": "F"}


# -- the loop ---------------------------------------------------------------------------------------
def test_a_two_step_loop(session, fake_server):
    r = cm.chat("What is the weather in Paris?", tools=[get_weather])
    assert r.status == "ok" and r.finish_reason == "stop"
    assert r.text == 'Here is what the tools found: get_weather returned {"city": "Paris", "temp": 15, "unit": "C"}.'
    (step,) = r.tool_calls
    assert (step.name, step.arguments, step.result, step.error) == ("get_weather", {"city": "Paris"},
                                                                   {"city": "Paris", "temp": 15, "unit": "C"}, None)
    assert step.duration is not None and step.duration < 1 and step.request == 1
    first, second = posts(fake_server)
    assert first.json["messages"] == [{"role": "user", "content": "What is the weather in Paris?"}]
    user, assistant, tool = second.json["messages"]
    assert assistant == {"role": "assistant", "tool_calls": [{"id": step.id, "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert tool == {"role": "tool", "tool_call_id": step.id, "content": '{"city": "Paris", "temp": 15, "unit": "C"}'}
    assert second.json["tools"] == first.json["tools"] and second.json["model"] == first.json["model"]


def test_streamed_calls_split_in_pieces_are_joined(session, fake_server):
    fake_server.fault("split-tool-calls")
    r = cm.chat("What is the weather in Paris and Rome?", tools=[get_weather])
    assert [s.arguments for s in r.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert all(s.status == "ok" for s in r.tool_calls) and "Rome" in r.text


NAP = 0.5  # seconds each tool sleeps


def _sleepy(record: list, kind: str):
    if kind == "async":
        async def lookup(city: str) -> str:
            """Weather lookup for a city."""
            record.append(("start", city, time.perf_counter()))
            await asyncio.sleep(NAP)
            record.append(("end", city, time.perf_counter()))
            return f"{city}: 20C"
    else:
        def lookup(city: str) -> str:
            """Weather lookup for a city."""
            record.append(("start", city, time.perf_counter()))
            time.sleep(NAP)
            record.append(("end", city, time.perf_counter()))
            return f"{city}: 20C"
    return lookup


def test_parallel_async_tools_run_concurrently(session, fake_server):
    record = []
    r = cm.chat("Weather lookup in Paris and Rome and Oslo", tools=[_sleepy(record, "async")])
    assert [s.result for s in r.tool_calls] == ["Paris: 20C", "Rome: 20C", "Oslo: 20C"]  # the model's order
    starts = [t for what, _, t in record if what == "start"]
    ends = [t for what, _, t in record if what == "end"]
    assert max(starts) < min(ends)  # all three were running at once
    assert max(ends) - min(starts) < 2 * NAP  # one after another would take 3 x NAP
    assert all(s.duration >= NAP * 0.9 for s in r.tool_calls)


def test_sync_tools_run_in_order(session, fake_server):
    record = []
    r = cm.chat("Weather lookup in Paris and Rome", tools=[_sleepy(record, "sync")])
    assert [(what, city) for what, city, _ in record] == [("start", "Paris"), ("end", "Paris"), ("start", "Rome"),
                                                          ("end", "Rome")]
    assert r.status == "ok" and len(r.tool_calls) == 2


async def test_the_async_loop_awaits_async_tools_on_the_running_loop(session, fake_server):
    record = []
    ask = cm.Ask.from_kwargs("Weather lookup in Paris and Rome", tools=[_sleepy(record, "async")])
    r = await arun_tools(session, ask)
    assert [s.result for s in r.tool_calls] == ["Paris: 20C", "Rome: 20C"] and "Rome: 20C" in r.text
    starts, ends = [t for what, _, t in record if what == "start"], [t for what, _, t in record if what == "end"]
    assert max(starts) < min(ends) and threading.current_thread() is threading.main_thread()
    assert len(posts(fake_server)) == 2


def test_a_tool_raising_is_one_line_sent_back(session, fake_server):
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        raise ConnectionError(f"the station in {city} is down\nTraceback (most recent call last): ...")
    r = cm.chat("What is the weather in Paris?", tools=[get_weather])
    (step,) = r.tool_calls
    assert step.status == "error" and step.result is None
    assert step.error == "ConnectionError: the station in Paris is down"  # one line, no traceback
    tool = posts(fake_server)[1].json["messages"][-1]
    assert tool["content"] == "Error: ConnectionError: the station in Paris is down"
    assert "Error: ConnectionError" in r.text and r.status == "ok"


def test_invalid_arguments_are_checked_before_the_call(session, fake_server):
    calls = []

    def days_ahead(city: str, days: Annotated[int, Field(ge=1, le=7)]) -> str:
        """Weather forecast for a city."""
        calls.append(days)
        return "sunny"
    r = cm.chat("Weather forecast for Paris for 30 days", tools=[days_ahead])
    (step,) = r.tool_calls
    assert calls == [] and step.status == "error" and step.arguments == {"city": "Paris", "days": 30}
    assert step.error == "invalid arguments for days_ahead: days: Input should be less than or equal to 7 (got 30)"
    assert posts(fake_server)[1].json["messages"][-1]["content"] == f"Error: {step.error}"

    fake_server.fault("bad-tool-args")  # the model writes JSON cut short
    r = cm.chat("What is the weather in Paris?", tools=[get_weather])
    (step,) = r.tool_calls
    assert step.status == "error" and step.arguments == {} and not step.parsed
    assert step.error.startswith("invalid arguments for get_weather: the arguments are not valid JSON")
    assert posts(fake_server)[-1].json["messages"][1]["tool_calls"][0]["function"]["arguments"] == step.raw_arguments


def test_an_unknown_tool_name_is_sent_back(session, fake_server):
    r = cm.chat("Weather in Paris?", tools=[get_weather, {"type": "function", "function": {
        "name": "radar", "description": "Weather radar", "parameters": {"type": "object", "properties": {}}}}],
        tool_choice="radar")
    (step,) = r.tool_calls[:1]
    assert step.name == "radar" and step.error == "radar has no Python function here (only its schema)"


def test_max_steps_then_one_line(session, fake_server):
    r = cm.chat("What is the weather in Paris and Rome?", tools=[get_weather], max_steps=1)
    assert len(posts(fake_server)) == 1
    assert r.tool_note == ("Stopped after 1 request (max steps 1): the model still asked for get_weather; raise "
                           "max_steps to let it go on.")
    assert [s.status for s in r.tool_calls] == ["not run", "not run"] and r.finish_reason == "tool_calls"
    with pytest.raises(cm.ParameterError, match=r"max_steps must be an integer ≥ 1 \(got 0\)"):
        cm.chat("hi", tools=[get_weather], max_steps=0)
    with pytest.raises(cm.ParameterError, match="max_steps needs tools"):
        cm.chat("hi", max_steps=2)


def test_a_forced_tool_choice_holds_for_the_first_request_only(session, fake_server):
    r = cm.chat("What is the weather in Paris?", tools=[get_weather], tool_choice="required", max_steps=3)
    first, second = posts(fake_server)
    assert first.json["tool_choice"] == "required" and second.json["tool_choice"] == "auto"
    assert r.text.startswith("Here is what the tools found") and len(r.tool_calls) == 1
    cm.chat("Tell me a story.", tools=[get_weather], tool_choice="get_weather")
    assert posts(fake_server)[2].json["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert posts(fake_server)[3].json["tool_choice"] == "auto"


def test_approve_with_a_function(session, fake_server):
    asked = []

    def approve(step):
        asked.append(step.call_text)
        return step.arguments["city"] != "Rome"
    r = cm.chat("What is the weather in Paris and Rome?", tools=[get_weather], approve=approve)
    assert asked == ["get_weather(city='Paris')", "get_weather(city='Rome')"]
    assert [s.status for s in r.tool_calls] == ["ok", "refused"]
    refused = posts(fake_server)[1].json["messages"][-1]
    assert refused["content"] == "Error: the user declined to run this call" and "declined" in r.text


# -- history and replay ------------------------------------------------------------------------------
def test_every_request_is_a_row_linked_by_run_id(session, fake_server):
    def big(city: str) -> str:
        """Weather report for a city."""
        return "x" * (HISTORY_CHARS + 500)
    r = cm.chat("Weather report for Paris", tools=[big])
    cm.chat("Weather report for Rome", tools=[big])
    df = cm.history()
    assert len(df) == 4 and df["run_id"].nunique() == 2
    mine = df[df["run_id"] == r.run_id]
    assert list(mine["step"]) == [1, 2] and r.step == 2 and list(mine["status"]) == ["ok", "ok"]
    calls = json.loads(mine.iloc[0]["tool_calls"])
    assert calls == [{"id": r.tool_calls[0].id, "name": "big", "arguments": {"city": "Paris"}}]
    assert mine.iloc[1]["tool_calls"] is None or mine.iloc[1]["tool_calls"] != mine.iloc[1]["tool_calls"]
    (result,) = json.loads(mine.iloc[1]["tool_results"])
    assert result["tool_call_id"] == r.tool_calls[0].id and result["status"] == "ok"
    assert result["content"].endswith(f"… [truncated: {HISTORY_CHARS + 500:,} characters in all]")
    assert len(result["content"]) < HISTORY_CHARS + 100
    # the request itself keeps everything, so a replay sends the same bytes
    sent = json.loads(mine.iloc[1]["request"])
    assert sent["messages"][-1]["content"] == "x" * (HISTORY_CHARS + 500)


def test_replay_of_the_final_row_sends_the_whole_conversation(session, fake_server):
    r = cm.chat("What is the weather in Paris and Rome?", tools=[get_weather])
    final = posts(fake_server)[-1]
    again = cm.replay(r.id)
    resent = posts(fake_server)[-1]
    assert resent.body == final.body  # byte for byte: the tool calls, the results, the schemas
    assert [m["role"] for m in resent.json["messages"]] == ["user", "assistant", "tool", "tool"]
    assert again.text == r.text and again.replay_of == r.id and again.tool_calls == []


# -- both official clients, with our schemas -----------------------------------------------------------
def test_both_clients_run_our_tools_on_the_fake_server(fake_server):
    tool = Tool(get_weather)
    sdk = cb.Cerebras(api_key="test-key", base_url=fake_server.base_url, max_retries=0, warm_tcp_connection=False,
                      _strict_response_validation=True)
    oai = openai.OpenAI(api_key="test-key", base_url=fake_server.base_url + "/v1", max_retries=0,
                        _strict_response_validation=True)
    for client in (sdk, oai):
        messages = [{"role": "user", "content": "What is the weather in Paris and Rome? unit: F"}]
        msg = client.chat.completions.create(model="llama-3.3-70b", messages=messages,
                                             tools=[tool.spec]).choices[0].message
        got = [tool(**tool.validate(c.function.arguments)) for c in msg.tool_calls]
        assert got == [{"city": "Paris", "temp": 15, "unit": "F"}, {"city": "Rome", "temp": 12, "unit": "F"}]
        messages.append({"role": "assistant", "tool_calls": [c.model_dump(exclude_none=True) for c in msg.tool_calls]})
        messages += [{"role": "tool", "tool_call_id": c.id, "content": json.dumps(g)}
                     for c, g in zip(msg.tool_calls, got)]
        final = client.chat.completions.create(model="llama-3.3-70b", messages=messages, tools=[tool.spec])
        assert final.choices[0].finish_reason == "stop" and '"temp": 12' in final.choices[0].message.content
    sdk.close()
    oai.close()


def test_tools_named_in_a_string_and_unknown_arguments(shell, fake_server):
    """tools="get_weather" is the cell's --tools spelling (it was read letter by letter); a keyword that is
    neither ours nor the API's is one line before anything is sent (it used to come back as the server's 400)."""
    shell.user_ns["get_weather"] = get_weather
    r = cm.chat("What is the weather in Paris?", tools="get_weather")
    assert r.status == "ok" and [s.name for s in r.tool_calls] == ["get_weather"] and r.loop["requests"] == 2
    sent = len(posts(fake_server))
    with pytest.raises(cm.ParameterError, match=r"unknown argument temprature=; did you mean temperature=\?"):
        cm.chat("hi", temprature=0.5)
    with pytest.raises(cm.ParameterError, match=r"unknown argument foo=.*extra_body=\{\.\.\.\}"):
        cm.chat("hi", foo=1)
    assert len(posts(fake_server)) == sent
    cm.chat("hi", frequency_penalty=0.1, max_tokens=3)  # an API field without a flag of ours is still sent
    assert posts(fake_server)[-1].json["frequency_penalty"] == 0.1


def test_the_local_model_load_note_is_said_once_per_loop(shell):
    """A tool loop's requests share one renderer: the note given before the first is not said again."""
    from cerebras_magic.display._tools import ToolCellRenderer
    pub = shell.display_pub
    before = len(pub.messages)
    r = ToolCellRenderer()
    r.note("loading the local model…")
    for _ in range(2):
        r.start(cm.Result(status="ok"))
    said = [m for m in pub.messages[before:] if "loading" in str(m.get("data"))]
    assert len(said) == 1
