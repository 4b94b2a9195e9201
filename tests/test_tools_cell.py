"""`%%cerebras --tools` through a real InteractiveShell against the fake server (issue 16): each step shown as
its own output, the answer streamed, --approve yes and no, --chat continuing after tools, one-line errors,
escaping, the cell a panel or a history row gives back."""
import builtins
import json

import pytest
from IPython.core.error import StdinNotImplementedError

import cerebras_magic as cm
from tests.conftest import run

TOOLS = '''
from typing import Literal
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
    """Current weather for a city."""
    if city == "Atlantis":
        raise LookupError("no station in Atlantis")
    return {"city": city, "temp": len(city) * 3, "unit": unit}
'''


@pytest.fixture
def tools_shell(shell):
    shell.run_cell(TOOLS)
    return shell


def posts(srv):
    return [r for r in srv.requests if r.method == "POST"]


def outputs(msgs):
    """The outputs a saved notebook keeps (display updates are not among them)."""
    return [m["data"] for m in msgs if "data" in m and not m["update"]]


def test_a_cell_shows_each_step_then_streams_the_answer(tools_shell, fake_server):
    res, msgs = run(tools_shell, "%%cerebras --tools get_weather\nWhat is the weather in Paris and Rome?")
    r = res.result
    assert isinstance(r, cm.Result) and r.status == "ok" and tools_shell.user_ns["_"] is r
    assert [s.result["city"] for s in r.tool_calls] == ["Paris", "Rome"]
    kept = outputs(msgs)
    steps = [o for o in kept if "cm-tool" in o.get("text/html", "")]
    assert [o["text/plain"].split(" · ")[0] for o in steps] == [
        """[1] ✓ get_weather(city='Paris') → {"city": "Paris", "temp": 15, "unit": "C"}""",
        """[1] ✓ get_weather(city='Rome') → {"city": "Rome", "temp": 12, "unit": "C"}"""]
    assert all(" · took " in o["text/plain"] and "<details" in o["text/html"] for o in steps)  # collapsible
    final, totals = kept[-2:]
    assert final["text/plain"].startswith("Here is what the tools found") and "tok/s" in final["text/plain"]
    # the answer's footer is its own request's; the loop's totals follow, and are the history rows' sums
    loop = r.loop
    assert loop["requests"] == 2 and totals["text/plain"].startswith("── the whole loop: 2 requests · ")
    rows = cm.history()
    assert loop["prompt_tokens"] == rows.prompt_tokens.sum() > r.usage.prompt_tokens
    assert loop["completion_tokens"] == rows.completion_tokens.sum()
    assert abs(loop["cost_usd"] - rows.cost_usd.sum()) < 1e-12 and f"{loop['prompt_tokens']:,} → " in totals["text/plain"]
    updates = [m["data"]["text/plain"] for m in msgs if m.get("update")]
    assert "running get_weather(city='Paris')…" in updates and "asking for get_weather, get_weather…" in updates
    assert updates[-1] == ""  # the live view ends empty, as nbval and saved notebooks keep it
    df = cm.history()
    assert list(df["source"]) == ["magic", "magic"] and df["run_id"].nunique() == 1 and list(df["step"]) == [1, 2]


def test_a_raising_tool_is_one_line_in_the_cell(tools_shell, fake_server, capsys):
    res, msgs = run(tools_shell, "%%cerebras --tools get_weather\nWhat is the weather in Atlantis?")
    (step,) = res.result.tool_calls
    shown = [o for o in outputs(msgs) if "cm-tool" in o.get("text/html", "")][0]
    assert "✕ get_weather(city='Atlantis') → LookupError: no station in Atlantis" in shown["text/plain"]
    assert "LookupError: no station in Atlantis" in shown["text/html"]
    text = capsys.readouterr()
    assert "Traceback" not in text.out + text.err + json.dumps(outputs(msgs))
    assert posts(fake_server)[1].json["messages"][-1]["content"] == "Error: LookupError: no station in Atlantis"


@pytest.mark.parametrize("answer,status", [("y", "ok"), ("yes", "ok"), ("n", "refused"), ("", "refused")])
def test_approve_asks_before_each_call(tools_shell, fake_server, monkeypatch, answer, status):
    asked = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": asked.append(prompt) or answer)
    res, msgs = run(tools_shell, "%%cerebras --tools get_weather --approve\nWhat is the weather in Paris?")
    (step,) = res.result.tool_calls
    assert asked == ["Run get_weather(city='Paris')? [y/N] "] and step.status == status
    sent = posts(fake_server)[1].json["messages"][-1]
    if status == "ok":
        assert sent["content"] == '{"city": "Paris", "temp": 15, "unit": "C"}'
    else:
        assert sent["content"] == "Error: the user declined to run this call" and step.result is None
        shown = [o.get("text/plain", "") for o in outputs(msgs)]
        assert any("⊘ get_weather(city='Paris') → the user declined" in text for text in shown)


def test_approve_with_no_stdin_is_one_line(tools_shell, fake_server, monkeypatch, capsys):
    def no_stdin(prompt=""):
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")
    monkeypatch.setattr(builtins, "input", no_stdin)
    run(tools_shell, "%%cerebras --tools get_weather --approve\nWhat is the weather in Paris?")
    text = "".join(capsys.readouterr())
    assert "--approve: this front end cannot answer a yes/no prompt" in text and "Traceback" not in text


def test_chat_continues_after_tools(tools_shell, fake_server):
    run(tools_shell, "%%cerebras --chat --tools get_weather\nWhat is the weather in Paris?")
    convo = cm.core.default_session().conversation("default").messages
    assert [m["role"] for m in convo] == ["user", "assistant", "tool", "assistant"]
    call_id = convo[1]["tool_calls"][0]["id"]
    assert convo[2]["tool_call_id"] == call_id and convo[3]["content"].startswith("Here is what the tools found")
    res, _ = run(tools_shell, "%%cerebras --chat\nAnd what did the tool say about Paris?")
    sent = posts(fake_server)[-1].json
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": call_id,
                                   "content": '{"city": "Paris", "temp": 15, "unit": "C"}'}
    assert "tools" not in sent and res.result.status == "ok"


def test_a_chat_stopped_at_max_steps_still_answers_every_call(tools_shell, fake_server):
    res, msgs = run(tools_shell, "%%cerebras --chat --tools get_weather --max-steps 1\nWhat is the weather in Paris?")
    assert res.result.tool_note.startswith("Stopped after 1 request (max steps 1)") and "--max-steps" in \
        res.result.tool_note
    kept = outputs(msgs)
    line = "– get_weather(city='Paris') → not run: the loop stopped at max steps (1)"
    assert any(line in o.get("text/plain", "") for o in kept)
    assert kept[-1]["text/plain"].startswith("Stopped after 1 request") and "cm-warn" in kept[-1]["text/html"]
    convo = cm.core.default_session().conversation("default").messages
    assert [m["role"] for m in convo] == ["user", "assistant", "tool"]
    assert convo[2]["content"].startswith("Error: not run")


@pytest.mark.parametrize("cell,needle", [
    ("%%cerebras --tools nope\nhi", "--tools nope: no function named 'nope' in the notebook"),
    ("%%cerebras --tools 'get_weather,Literal'\nhi", "Literal"),
    ("%%cerebras --tools ,\nhi", "--tools: name the notebook's functions"),
    ("%%cerebras --tools get_weather,get_weather\nhi", "get_weather given twice"),
    ("%%cerebras --max-steps 2\nhi", "--max-steps needs --tools"),
    ("%%cerebras --approve\nhi", "--approve needs --tools"),
    ("%%cerebras --tools get_weather --max-steps 0\nhi", "--max-steps must be an integer ≥ 1 (got 0)"),
    ("%%cerebras --tool-choice required\nhi", "--tool-choice needs --tools"),
    ("%%cerebras --tools get_weather --tool-choice radar\nhi",
     "--tool-choice radar: not one of the tools (get_weather)"),
    ("%%cerebras --tools get_weather --completion\nhi", "--tools needs the chat endpoint; drop --completion"),
    ("%%cerebras --tools get_weather -m a,b\nhi", "--tools cannot be used with a grid"),
    ("%%cerebras --tools get_weather -n 3\nhi", "--tools cannot be used with a grid"),
    ("%%cerebras --tools get_weather --panel\nhi", "--tools cannot be used with --panel"),
])
def test_bad_tool_flags_give_one_line(tools_shell, fake_server, capsys, cell, needle):
    n = len(posts(fake_server))
    run(tools_shell, cell)
    text = "".join(capsys.readouterr())
    assert needle in text, text
    assert "Traceback" not in text and len(posts(fake_server)) == n


def test_dry_run_shows_the_tools_and_sends_nothing(tools_shell, fake_server):
    n = len(posts(fake_server))
    res, msgs = run(tools_shell, "%%cerebras --tools get_weather --tool-choice get_weather --dry-run\nWeather?")
    request = msgs[-1]["data"]["application/json"]["json"]
    assert request["tools"][0]["function"]["name"] == "get_weather"
    assert request["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert len(posts(fake_server)) == n


def test_model_and_tool_text_is_escaped(tools_shell, fake_server):
    tools_shell.run_cell('''
def lookup(city: str) -> str:
    """Weather lookup for a city."""
    return "<script>alert('tool')</script> \\x1b[31mred"
''')
    res, msgs = run(tools_shell, '%%cerebras --tools lookup\nWeather lookup for "<img src=x onerror=alert(1)>"')
    (step,) = res.result.tool_calls
    assert step.arguments == {"city": "<img src=x onerror=alert(1)>"}
    page = "".join(o.get("text/html", "") for o in outputs(msgs))
    assert "<img" not in page and "<script>" not in page and "\x1b" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;" in page
    assert "\x1b" not in "".join(o.get("text/plain", "") for o in outputs(msgs))


def test_the_cell_of_a_tool_ask_sends_the_same_request(tools_shell, fake_server):
    ask = cm.Ask(prompt="What is the weather in Paris?", tools=("get_weather",), max_steps=3, approve=True,
                 params={"tool_choice": "required", "temperature": 0.5})
    cell = ask.to_cell()
    assert cell == ("%%cerebras -t 0.5 --tool-choice required --tools get_weather --max-steps 3 --approve\n"
                    "What is the weather in Paris?")
    res, msgs = run(tools_shell, cell.replace(" --approve", "") + "")
    first = posts(fake_server)[0].json
    assert first["tool_choice"] == "required" and first["temperature"] == 0.5 and first["tools"][0]["function"][
        "name"] == "get_weather"
    assert res.result.status == "ok"


def test_replay_of_a_cell_loop_row(tools_shell, fake_server):
    run(tools_shell, "%%cerebras --tools get_weather\nWhat is the weather in Paris?")
    final = posts(fake_server)[-1]
    res, _ = run(tools_shell, "%cerebras rerun 1")
    assert posts(fake_server)[-1].body == final.body and res.result.replay_of


def test_ctrl_c_at_the_approval_prompt_stops_the_loop(tools_shell, fake_server, monkeypatch):
    def interrupt(prompt=""):
        raise KeyboardInterrupt
    monkeypatch.setattr(builtins, "input", interrupt)
    res, msgs = run(tools_shell, "%%cerebras --chat --tools get_weather --approve\nWhat is the weather in Paris?")
    r = res.result
    assert r.status == "interrupted" and r.tool_note == "Stopped by the user during step 1."
    assert [s.status for s in r.tool_calls] == ["interrupted"] and len(posts(fake_server)) == 1
    assert outputs(msgs)[-1]["text/plain"].startswith("Stopped by the user during step 1.")
    convo = cm.core.default_session().conversation("default").messages
    assert [m["role"] for m in convo] == ["user", "assistant", "tool"]  # every call still answered
    assert convo[-1]["content"] == "Error: stopped by the user"
