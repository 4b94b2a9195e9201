"""The playground's tool loop from Python (issue 16): the Tools field, each step listed, Approve/Deny as the
buttons send them, Stop while a call waits, one-line errors, the copied cell."""

import pytest

import cerebras_magic as cm
from cerebras_magic.display import final_bundle
from tests.conftest import wait_for


def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp": len(city) * 3}


@pytest.fixture
def panel(session):
    session.namespace = {"get_weather": get_weather}
    p = cm.Playground(session=session, load_models=False)
    yield p
    p.cancel()


def click(panel, ok: bool):
    """What the Approve / Deny buttons send."""
    assert wait_for(lambda: panel.pending_call), "no call is waiting"
    call = dict(panel.pending_call)
    panel._on_msg(panel, {"type": "approve", "id": call["id"], "ok": ok}, [])
    assert wait_for(lambda: panel.pending_call.get("id") != call["id"])
    return call


def test_the_panel_runs_a_tool_loop_and_lists_its_steps(panel, fake_server):
    panel.prompt, panel.tools = "What is the weather in Paris and Rome?", "get_weather"
    assert panel.cell == "%%cerebras -m llama-3.3-70b --tools get_weather\nWhat is the weather in Paris and Rome?"
    panel.run(wait=True)
    assert panel.status == "ok" and panel.output.startswith("Here is what the tools found")
    assert [(s["call"], s["status"]) for s in panel.tool_steps] == [("get_weather(city='Paris')", "ok"),
                                                                    ("get_weather(city='Rome')", "ok")]
    assert panel.tool_steps[0]["said"] == '{"city": "Paris", "temp": 15}'
    rows = panel.session.history.rows()
    assert [r["step"] for r in rows] == [1, 2] and {r["source"] for r in rows} == {"widget"}


def test_approve_and_deny_buttons(panel, fake_server):
    panel.prompt, panel.tools, panel.approve = "What is the weather in Paris and Rome?", "get_weather", True
    assert panel.cell.startswith("%%cerebras -m llama-3.3-70b --tools get_weather --approve\n")
    panel.run()
    first = click(panel, True)
    assert first["call"] == "get_weather(city='Paris')" and first["arguments"] == '{"city": "Paris"}'
    assert click(panel, False)["call"] == "get_weather(city='Rome')"
    panel._thread.join(10)
    assert [s["status"] for s in panel.tool_steps] == ["ok", "refused"] and panel.status == "ok"
    sent = [r for r in fake_server.requests if r.method == "POST"][-1].json["messages"][-1]
    assert sent["content"] == "Error: the user declined to run this call"
    assert not panel.answer_call(first["id"], True)  # nothing waits any more


def test_stop_while_a_call_waits(panel, fake_server):
    panel.prompt, panel.tools, panel.approve = "What is the weather in Paris?", "get_weather", True
    panel.run()
    assert wait_for(lambda: panel.pending_call)
    panel.cancel()
    panel._thread.join(10)
    assert panel.status == "interrupted" and panel.pending_call == {}
    assert panel.tool_steps[-1] == {"note": "Stopped by the user during step 1."}
    assert len([r for r in fake_server.requests if r.method == "POST"]) == 1  # nothing sent after Stop


def test_a_bad_tools_field_is_one_line(panel, fake_server):
    panel.prompt, panel.tools = "Weather in Paris?", "get_weather, nope"
    panel.run(wait=True)
    assert panel.error == "the Tools field (nope): no function named 'nope' in the notebook"
    assert panel.status == "error" and not panel.running
    panel.tools, panel.approve = "", True
    panel.run(wait=True)
    assert panel.error == "the Approve checkbox needs the Tools field"


def test_a_loop_result_shows_its_steps_when_displayed(session, fake_server):
    r = cm.chat("What is the weather in Paris?", tools=[get_weather])
    bundle = final_bundle(r)
    assert "<details" in bundle["text/html"] and "cm-tool-ok" in bundle["text/html"]
    assert bundle["text/plain"].startswith("""[1] ✓ get_weather(city='Paris') → {"city": "Paris", "temp": 15}""")
    assert "Here is what the tools found" in bundle["text/plain"]
