"""The request spec: every front end builds one Ask; replays and copied cells send the same bytes; the
session sees a key set after it started."""
import json

import pytest

import cerebras_magic as cm
from cerebras_magic.core import Ask, Session
from tests.conftest import run


def posts(srv):
    return [r for r in srv.requests if r.method == "POST"]


def test_replay_is_byte_identical_for_a_chat_with_a_conversation_and_system(shell, fake_server):
    run(shell, "%%cerebras --chat -s 'Be brief.\\nVery.' --seed 4 -t 0.3\nMy name is Ada.")
    run(shell, "%%cerebras --chat --logprobs 2 --stop END\nWhat is my name?")
    original = posts(fake_server)[-1]
    assert [m["role"] for m in original.json["messages"]] == ["system", "user", "assistant", "user"]
    row = cm.history().iloc[-1]
    again = cm.replay(row)
    replayed = posts(fake_server)[-1]
    assert replayed.body == original.body and replayed.path == original.path
    assert again.replay_of == row["id"] and cm.history().iloc[-1]["replay_of"] == row["id"]
    assert again.status == "ok" and again.text == shell.user_ns["_"].text
    # a replay does not continue the conversation it came from
    run(shell, "%%cerebras --chat\nAnd now?")
    assert len(posts(fake_server)[-1].json["messages"]) == 6


def test_replay_is_byte_identical_for_completion_echo_logprobs_and_schema(shell, fake_server):
    run(shell, "%%cerebras --completion --echo --logprobs 3 --max-tokens 6 --grammar-root value\nOnce upon")
    first = posts(fake_server)[-1]
    shell.run_line_magic("cerebras", "rerun 0")
    assert posts(fake_server)[-1].body == first.body and posts(fake_server)[-1].path == "/v1/completions"
    run(shell, "from pydantic import BaseModel\nclass City(BaseModel):\n    name: str\n    population: int\n")
    res, _ = run(shell, "%%cerebras --schema City --no-stream\nThe largest city in France")
    first = posts(fake_server)[-1]
    again = cm.replay(res.result.id)
    assert posts(fake_server)[-1].body == first.body
    assert again.parsed == res.result.parsed.model_dump()  # the class is not stored: the JSON comes back parsed


def test_replay_ignores_defaults_set_after_the_call(session, fake_server):
    cm.chat("hello", seed=1)
    first = posts(fake_server)[-1]
    cm.configure(temperature=0.9, system="New rules", max_tokens=3)
    cm.replay(-1)
    assert posts(fake_server)[-1].body == first.body
    cm.chat("hello", seed=1)
    sent = posts(fake_server)[-1].json
    assert sent["temperature"] == 0.9 and sent["messages"][0]["content"] == "New rules"


def test_replay_errors_are_one_line(session):
    with pytest.raises(cm.ParameterError, match="no history row 5"):
        cm.replay(5)
    with pytest.raises(cm.ParameterError, match="no history row with id 'nope'"):
        cm.replay("nope")


def test_copied_cell_continues_the_panels_conversation_with_the_same_bytes(session, shell, fake_server):
    """A chat-mode panel ("My name is Ada." then "What is my name?") and its copied cell send the same 4
    messages: the panel's chat is a named conversation of the session, and the cell says --chat NAME."""
    p = cm.Playground(session=session, load_models=False)
    p.chat_mode, p.system, p.seed = True, "You are terse.", 2
    p.prompt = "My name is Ada."
    p.run(wait=True)
    p.system = "You are very terse."  # a new system prompt applies to the running conversation, in both
    p.prompt = "What is my name?"
    cell = p.cell
    assert f"--chat {p.conversation_name}" in cell and "-s 'You are very terse.'" in cell
    res, _ = run(shell, "%%cerebras --dry-run " + cell[len("%%cerebras "):])
    dry = json.loads(shell.display_pub.messages[-1]["data"]["text/plain"].split("\n", 1)[1].split("\n\n# the same")[0])
    p.run(wait=True)
    from_panel = posts(fake_server)[-1]
    assert [m["role"] for m in from_panel.json["messages"]] == ["system", "user", "assistant", "user"]
    assert from_panel.json["messages"][0]["content"] == "You are very terse."
    assert dry == from_panel.json
    # the cell itself continues the same conversation: it now holds the panel's second answer
    run(shell, cell.replace("What is my name?", "And my surname?"))
    sent = posts(fake_server)[-1].json["messages"]
    assert len(sent) == 6 and sent[4] == {"role": "assistant", "content": p.output}
    assert len(p.session.conversation(p.conversation_name)) == 7


@pytest.mark.parametrize("backend", ["auto", "cerebras"])
def test_a_key_set_after_a_missing_key_error_works_on_the_next_cell(shell, fake_server, monkeypatch, backend):
    from cerebras_magic import local
    monkeypatch.setattr(local, "available", lambda: False)  # no offline fallback: the key is the way out
    monkeypatch.delenv("CEREBRAS_API_KEY")
    shell.run_line_magic("config", "Cerebras.base_url = None")
    shell.run_line_magic("config", f"Cerebras.backend = {backend!r}")
    res, _ = run(shell, "%%cerebras\nhello")
    assert isinstance(res.error_in_exec, cm.MissingAPIKeyError)
    monkeypatch.setenv("CEREBRAS_API_KEY", "test-key")
    monkeypatch.setenv("CEREBRAS_BASE_URL", fake_server.base_url)
    res, _ = run(shell, "%%cerebras\nhello")
    assert res.error_in_exec is None and res.result.status == "ok"
    assert posts(fake_server)[-1].headers["authorization"] == "Bearer test-key"


def test_every_front_end_builds_an_ask(session, shell, fake_server):
    res, _ = run(shell, "%%cerebras -t 0.2 --max-tokens 9\nhi")
    p = cm.Playground(session=session, load_models=False)
    p.prompt, p.temperature, p.max_tokens = "hi", 0.2, 9
    p.run(wait=True)
    r = cm.chat("hi", temperature=0.2, max_tokens=9)
    asks = [res.result.ask, session.history.find(p.runs[-1]["id"]), r.ask]
    asks[1] = Ask.from_dict(json.loads(asks[1]["request"]))
    wires = [a.wire() for a in asks]
    assert all(isinstance(a, Ask) and a.resolved for a in asks)
    assert wires[0] == wires[1] == wires[2]
    assert [a.source for a in (res.result.ask, r.ask)] == ["magic", "python"]


def test_ask_round_trips_through_a_cell_and_a_dict():
    ask = Ask(prompt="Use {braces}\nand lines", params={"temperature": 0.3, "stop": ["END", "\n\n"],
                                                        "system": "Line 1\nit's \"x\"", "logprobs": 4,
                                                        "max_tokens": 7}, conversation="notes", extra={"n": 2})
    cell = ask.to_cell()
    assert cell.startswith("%%cerebras -s ") and "--chat notes" in cell and "--no-interpolate" in cell
    assert "--param 'n=2'" in cell or "--param n=2" in cell
    assert Ask.from_dict(json.loads(json.dumps(ask.to_dict())), source="python") == ask


def test_sessions_are_independent(fake_server, tmp_path):
    a = Session(history_path=None, api_key="test-key", base_url=fake_server.base_url)
    b = Session(history_path=None, api_key="test-key", base_url=fake_server.base_url, temperature=0.5)
    a.run(Ask("one"))
    b.run(Ask("two"))
    assert len(a.history) == 1 and len(b.history) == 1
    assert "temperature" not in posts(fake_server)[-2].json and posts(fake_server)[-1].json["temperature"] == 0.5
    with pytest.raises(cm.ParameterError, match="configure: unknown setting 'temprature'"):
        a.configure(temprature=1)
    with pytest.raises(cm.ParameterError, match="temperature must be a number from 0 to 1.5"):  # when set, not later
        Session(history_path=None, api_key="k", base_url=fake_server.base_url, temperature=3)


def test_arun_is_the_same_call_on_the_async_client(fake_server):
    import asyncio
    s = Session(history_path=None, api_key="test-key", base_url=fake_server.base_url, model="llama-3.3-70b")

    async def main():
        done = await asyncio.gather(*(s.arun(Ask(f"q{i}", params={"seed": i, "max_tokens": 8})) for i in range(5)))
        slow = asyncio.create_task(s.arun(Ask("long", params={"min_tokens": 20000, "max_tokens": 20000},
                                              extra={}), errors="return"))
        await asyncio.sleep(0.01)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return done

    first = asyncio.run(main())
    again = asyncio.run(main())  # a second event loop gets its own async client: no "event loop is closed"
    sync = s.run(Ask("q0", params={"seed": 0, "max_tokens": 8}))
    assert [r.status for r in first + again] == ["ok"] * 10 and first[0].text == again[0].text == sync.text
    rows = s.history.rows()
    assert len(rows) == 13 and [r["status"] for r in rows].count("interrupted") == 2
