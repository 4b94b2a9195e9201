"""The playground driven from Python: set traits, run, stop, restore; state and history checked."""
import time

import pytest

import cerebras_magic as cm
from cerebras_magic.core import Session
from tests.conftest import run as run_cell
from tests.conftest import wait_for


def _panel(session):
    p = cm.Playground(session=session, load_models=False)
    p.hist = session.history
    return p


@pytest.fixture
def panel(session):
    """A panel on the default session (the one the magic uses too)."""
    p = _panel(session)
    yield p
    p.cancel()


@pytest.fixture
def slow_panel(fake_server_paced, tmp_path):
    s = Session(history_path=str(tmp_path / "slow.sqlite"), api_key="test-key", base_url=fake_server_paced.base_url)
    p = _panel(s)
    yield p
    p.cancel()
    s.close()


def test_models_run_stats_history(panel, fake_server):
    panel.refresh_models()
    assert "llama3.1-8b" in panel.models and "qwen-3-32b" in panel.models
    panel.prompt, panel.max_tokens, panel.seed = "Hello panel", 30, 3
    panel.run(wait=True)
    assert panel.status == "ok" and panel.output and not panel.running and panel.error == ""
    assert {"ttft_ms", "tokens", "tokens_per_second", "server_total_time", "remaining_tokens"} <= set(panel.stats)
    expected = cm.Client(api_key="test-key", base_url=fake_server.base_url).chat(
        "Hello panel", model=panel.model, max_completion_tokens=30, seed=3).text
    assert panel.output == expected
    rows = panel.hist.rows()
    assert len(rows) == 1 and rows[0]["source"] == "widget" and rows[0]["status"] == "ok"
    assert len(panel.runs) == 1 and panel.runs[0]["status"] == "ok"


def test_logprobs_view_uses_the_shared_renderer(panel):
    panel.prompt, panel.logprobs, panel.top_k = "probabilities", True, 3
    panel.run(wait=True)
    assert 'class="cm-t"' in panel.logprobs_html and "perplexity" in panel.logprobs_html


def test_run_returns_at_once_and_stop_keeps_partial_text(slow_panel):
    p = slow_panel
    p.prompt, p.min_tokens, p.max_tokens = "a very long answer", 3000, 3000
    p.run()
    assert p.running and p._thread.is_alive()  # the kernel's thread is free while it streams
    assert wait_for(lambda: len(p.output) > 20)
    p.cancel()
    p._thread.join(5)
    assert not p._thread.is_alive()  # a full answer would take ~1.5 s more at the paced rate
    assert p.status == "interrupted" and p.output and not p.running
    assert p.stats["tokens"] < 3000
    rows = p.hist.rows()
    assert rows[-1]["status"] == "interrupted" and rows[-1]["response"] == p.output


def test_rapid_run_stop_run_never_interleaves(slow_panel, fake_server_paced):
    p = slow_panel
    p.prompt, p.min_tokens, p.max_tokens = "first answer", 2000, 2000
    p.run()
    assert wait_for(lambda: p.output)
    p.prompt, p.min_tokens, p.max_tokens = "second answer", None, 20
    p.run()
    p.cancel()
    p.prompt = "third answer"
    p.run(wait=True)
    expected = cm.Client(api_key="test-key", base_url=fake_server_paced.base_url).chat(
        "third answer", model=p.model, max_completion_tokens=20).text
    assert p.status == "ok" and p.output == expected
    statuses = {r["prompt"]: r["status"] for r in p.runs}
    assert statuses["first answer"] == "interrupted" and statuses["third answer"] == "ok"
    time.sleep(0.2)
    assert p.output == expected  # a late stale run never writes afterwards


def test_errors_are_one_line_and_the_panel_survives(panel, fake_server):
    panel.prompt, panel.response_format, panel.schema_name = "x", "schema", "NoSuchModel"
    panel.run(wait=True)
    assert panel.status == "error" and "NoSuchModel" in panel.error and "\n" not in panel.error
    assert panel.hist.rows()[-1]["status"] == "error" and panel.runs[-1]["status"] == "error"
    panel.response_format = "text"
    fake_server.fault("status:429", times=3)
    panel.run(wait=True)
    assert panel.status == "error" and "RateLimitError" in panel.error and "\n" not in panel.error
    assert panel.hist.rows()[-1]["status"] == "error"
    fake_server.clear_faults()
    panel.temperature = 1.5
    panel.run(wait=True)
    assert panel.status == "ok" and panel.error == ""


def test_messages_from_the_front_end_and_restore(panel):
    panel.prompt, panel.temperature = "one", 0.1
    panel._on_msg(panel, {"type": "run"}, [])
    panel._thread.join(5)
    first, first_output, first_stats = panel.runs[-1]["id"], panel.output, panel.stats
    panel.prompt, panel.temperature = "two", 0.9
    panel.run(wait=True)
    second = dict(output=panel.output, stats=panel.stats)
    panel._on_msg(panel, {"type": "restore", "id": first}, [])
    assert panel.prompt == "one" and panel.temperature == 0.1
    # the restored run's own answer and figures, not the last run's
    assert panel.output == first_output and panel.stats == first_stats and panel.status == "ok"
    assert panel.output != second["output"]
    panel.logprobs = True
    panel.run(wait=True)
    with_heatmap = panel.runs[-1]["id"]
    panel._on_msg(panel, {"type": "restore", "id": first}, [])
    assert panel.logprobs is False and panel.logprobs_html == ""  # no heat-map left over a run that had none
    panel._on_msg(panel, {"type": "restore", "id": with_heatmap}, [])
    assert panel.logprobs is True and 'class="cm-t"' in panel.logprobs_html
    panel._on_msg(panel, {"type": "bogus"}, [])  # ignored, no crash


def test_the_run_message_carries_the_panel_settings(panel, fake_server):
    """ipywidgets holds back a state update while an earlier one is unacknowledged, but a custom message goes
    at once: the run must use the settings in its message, not the kernel's possibly older copy."""
    panel.prompt, panel.max_tokens = "old prompt", 7
    sent_back = []
    panel.comm.send = lambda *a, **kw: sent_back.append(kw.get("data") or (a[0] if a else None))
    panel._on_msg(panel, {"type": "run", "params": {"prompt": "new prompt", "max_tokens": 12, "bogus": 1}}, [])
    panel._thread.join(5)
    body = [r for r in fake_server.requests if r["method"] == "POST"][-1]["json"]
    assert body["messages"][-1]["content"] == "new prompt" and body["max_completion_tokens"] == 12
    assert panel.prompt == "new prompt" and panel.max_tokens == 12 and "--max-tokens 12" in panel.cell
    echoed = [m for m in sent_back if m and m.get("method") == "update" and "prompt" in m.get("state", {})]
    assert echoed == []  # applied as if synced: nothing echoed back to overwrite what is being typed
    n = len(panel.runs)
    panel._on_msg(panel, {"type": "run", "params": {"max_tokens": 0}}, [])  # refused by the trait (min 1)
    assert panel.error == "the Max tokens field must be an integer ≥ 1 (got 0)"  # the field, as the panel names it
    assert len(panel.runs) == n and panel.max_tokens == 12


def test_the_front_end_gets_the_one_parameter_list_from_python(panel):
    """The fields a run message carries, their bounds and the stop-string escapes come from core/_params.py
    through the `spec` trait; the JavaScript spells none of them itself."""
    from cerebras_magic.core._params import ESCAPES, PARAMS
    from cerebras_magic.notebook import _playground as widget
    assert panel.spec["fields"] == list(widget.FIELDS) and panel.spec["escapes"] == ESCAPES
    assert [p["name"] for p in panel.spec["params"]] == [p.name for p in PARAMS if p.panel]
    js = widget._asset("playground.js").read_text()
    assert "const PARAMS" not in js and "1.5" not in js and '"\\\\n"' not in js  # no list, bound or escape of its own
    assert 'model.get("spec")' in js


def test_chat_mode_keeps_the_conversation(panel, fake_server):
    panel.chat_mode, panel.system, panel.prompt = True, "Be brief.", "My name is Ada."
    panel.run(wait=True)
    panel.prompt = "What is my name?"
    panel.run(wait=True)
    sent = [r for r in fake_server.requests if r["method"] == "POST"][-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert len(panel.conversation) == 5
    panel._on_msg(panel, {"type": "new_conversation"}, [])
    assert panel.conversation == []


def test_copied_cell_sends_exactly_the_same_request(panel, fake_server, shell):
    panel.prompt = "Use {braces} and\na second line"
    panel.system = "Line one\nLine two: it's \"quoted\""
    panel.stop = ["END", "\n\n"]
    panel.temperature, panel.top_p, panel.max_tokens, panel.min_tokens, panel.seed = 0.3, 0.9, 40, 5, 11
    panel.logprobs, panel.top_k, panel.model = True, 4, "qwen-3-32b"
    panel.run(wait=True)
    from_panel = [r for r in fake_server.requests if r["method"] == "POST"][-1]["json"]
    res, _ = run_cell(shell, panel.cell)
    assert res.error_in_exec is None, res.error_in_exec
    from_cell = [r for r in fake_server.requests if r["method"] == "POST"][-1]["json"]
    assert from_cell == from_panel
    panel.endpoint, panel.logprobs = "completion", False
    panel.run(wait=True)
    from_panel = [r for r in fake_server.requests if r["method"] == "POST"][-1]["json"]
    run_cell(shell, panel.cell)
    assert [r for r in fake_server.requests if r["method"] == "POST"][-1]["json"] == from_panel


def test_playground_line_magic(shell):
    res, _ = run_cell(shell, "%cerebras playground")
    assert isinstance(res.result, cm.Playground)


def test_a_heat_map_alternative_forks_the_answer_in_the_panel(panel, fake_server):
    """The panel's heat-map forks as the cell's does: the branch is the panel's next run and a history row
    pointing to its parent; its text starts with the answer up to the token, then the alternative."""
    panel.prompt, panel.logprobs, panel.top_k, panel.max_tokens = "Tell me about wafers.", True, 3, 30
    panel.run(wait=True)
    parent = panel.runs[-1]["id"]
    assert panel.shown_run == parent and panel.fork_pieces
    piece = panel.fork_pieces[2]
    token = piece["alts"][0][0]
    original = panel.output
    panel._on_msg(panel, {"type": "fork", "position": piece["position"], "token": token}, [])
    panel._thread.join(10)
    assert panel.status == "ok" and len(panel.runs) == 2 and panel.runs[-1]["prompt"].startswith(
        f"fork at #{piece['position']}: ")
    branch = panel._results[panel.shown_run]
    assert branch.parent_id == parent and branch.fork_at == piece["position"]
    at, entries = piece["position"], panel._results[parent].token_logprobs
    assert [e["token"] for e in branch.token_logprobs[:at]] == [e["token"] for e in entries[:at]]
    assert branch.token_logprobs[at]["token"] == token and panel.output == branch.text != original
    assert panel.fork_pieces and 'class="cm-t"' in panel.logprobs_html  # the branch can fork again
    rows = cm.history()
    assert rows.iloc[-1]["parent_id"] == parent and rows.iloc[-1]["fork_at"] == piece["position"]
    panel._on_msg(panel, {"type": "restore", "id": parent}, [])  # back to the original: it forks again
    assert panel.output == original and panel.shown_run == parent and panel.fork_pieces


def test_a_panel_without_logprobs_says_why_it_cannot_fork(panel, fake_server):
    panel.prompt = "hi"
    panel.run(wait=True)
    assert panel.fork_pieces == []
    sent = len(fake_server.requests)
    panel.fork(0, "x")
    assert "run one with Logprobs on" in panel.error and len(fake_server.requests) == sent
    panel.logprobs, panel.top_k = True, 3
    panel.run(wait=True)
    panel.fork(10_000, panel.fork_pieces[0]["alts"][0][0], wait=True)
    assert panel.status == "error" and "position must be a token position" in panel.error
