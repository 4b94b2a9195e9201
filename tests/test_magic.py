"""%%cerebras through a real InteractiveShell against the fake server: flags, memory, rendering, history."""
import json
import signal
import threading
import time

import pytest

import cerebras_magic as cm
from tests.conftest import run


def last_json(srv):
    return [r for r in srv.requests if _get(r, "method") == "POST"][-1]


def _get(r, name):
    return r[name] if isinstance(r, dict) else getattr(r, name)


def last_posts(srv):
    return [r for r in srv.requests if _get(r, "method") == "POST"]


def body(srv):
    return _get(last_json(srv), "json")


def test_cell_streams_returns_result_and_records_history(shell, fake_server):
    res, msgs = run(shell, "%%cerebras --seed 3\nWhy is the sky blue?")
    r = res.result
    assert isinstance(r, cm.Result) and r.status == "ok" and r.text
    assert shell.user_ns["_"] is r
    final = msgs[-1]["data"]
    assert "text/html" in final and "tok/s" in final["text/html"] and "TTFT" in final["text/plain"]
    handle = msgs[0]["transient"]["display_id"]
    assert all(m["transient"].get("display_id") == handle for m in msgs[:-1]) and not msgs[-1]["update"]
    assert msgs[-2]["data"] == {"text/plain": ""}  # the live view is emptied; the final render is its own output
    df = cm.history()
    assert len(df) == 1 and df.iloc[0]["status"] == "ok" and df.iloc[0]["source"] == "magic"
    assert df.iloc[0]["response"] == r.text and df.iloc[0]["prompt"] == "Why is the sky blue?"
    assert body(fake_server)["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]


def test_result_is_not_displayed_twice(shell):
    res, msgs = run(shell, "%%cerebras\nhello")
    final_msgs = [m for m in msgs if "text/html" in m.get("data", {})]
    assert len(final_msgs) == 1
    _, later = run(shell, "_")  # shown again on request
    assert any("text/html" in m["data"] for m in later)


@pytest.mark.parametrize("line,expected", [
    ("-m qwen-3-32b", {"model": "qwen-3-32b"}),
    ("-t 0.3 --top-p 0.9 --seed 7", {"temperature": 0.3, "top_p": 0.9, "seed": 7}),
    ("--max-tokens 5 --min-tokens 2", {"max_completion_tokens": 5, "min_completion_tokens": 2}),
    ("--stop END --stop '\\n\\n'", {"stop": ["END", "\n\n"]}),
    ("--stop 'two words'", {"stop": "two words"}),
    ("--logprobs", {"logprobs": True, "top_logprobs": 5}),
    ("--logprobs 2", {"logprobs": True, "top_logprobs": 2}),
    ("--user alice", {"user": "alice"}),
    ("--json", {"response_format": {"type": "json_object"}}),
    ("--no-stream", {"stream": False}),
])
def test_flags_reach_the_request(shell, fake_server, line, expected):
    res, _ = run(shell, f"%%cerebras {line}\nsay something")
    assert res.error_in_exec is None, res.error_in_exec
    sent = body(fake_server)
    for k, v in expected.items():
        assert sent[k] == v


def test_system_prompt_and_completion_mode(shell, fake_server):
    run(shell, '%%cerebras -s "You are terse."\nhi')
    assert body(fake_server)["messages"][0] == {"role": "system", "content": "You are terse."}
    res, _ = run(shell, "%%cerebras --completion --echo --max-tokens 4 --logprobs 3 --grammar-root value\nOnce upon")
    sent = body(fake_server)
    assert _get(last_json(fake_server), "path") == "/v1/completions"
    assert sent["echo"] is True and sent["logprobs"] == 3 and sent["grammar_root"] == "value" and sent["max_tokens"] == 4
    assert res.result.text.startswith("Once upon") and res.result.token_logprobs
    run(shell, "%%cerebras --completion --raw-tokens\nOnce")
    assert body(fake_server)["return_raw_tokens"] is True


def test_config_defaults_and_flag_wins(shell, fake_server):
    shell.run_line_magic("config", "Cerebras.model = 'llama-3.3-70b'")
    shell.run_line_magic("config", "Cerebras.temperature = 0.2")
    run(shell, "%%cerebras\nhi")
    assert body(fake_server)["model"] == "llama-3.3-70b" and body(fake_server)["temperature"] == 0.2
    run(shell, "%%cerebras -m llama3.1-8b -t 1.1\nhi")
    assert body(fake_server)["model"] == "llama3.1-8b" and body(fake_server)["temperature"] == 1.1


def test_interpolation(shell, fake_server):
    shell.user_ns.update(topic="whales", obj=type("O", (), {"attr": "deep"})(), d={"k": 3})
    run(shell, "%%cerebras\nTell me about {topic}, {obj.attr} {d[k]} and {{literal}}")
    assert body(fake_server)["messages"][-1]["content"] == "Tell me about whales, deep 3 and {literal}"
    run(shell, "%%cerebras --no-interpolate\nkeep {topic}")
    assert body(fake_server)["messages"][-1]["content"] == "keep {topic}"


def test_unknown_name_is_one_usage_error_line(shell, fake_server, capsys):
    n = len(fake_server.requests)
    res, _ = run(shell, "%%cerebras\nabout {nope}")
    err = capsys.readouterr()
    assert "{nope}" in err.err + err.out and "--no-interpolate" in err.err + err.out
    assert "Traceback" not in err.err + err.out and len(fake_server.requests) == n


@pytest.mark.parametrize("cell,needle", [
    ("%%cerebras -t 2\nhi", "-t/--temperature must be a number from 0 to 1.5 (got 2)"),
    ("%%cerebras --top-p 7\nhi", "--top-p must be a number from 0 to 1 (got 7)"),
    ("%%cerebras --max-tokens 0\nhi", "--max-tokens must be an integer ≥ 1 (got 0)"),
    ("%%cerebras --bogus\nhi", "unrecognized arguments: --bogus"),
    ("%%cerebras -t hot\nhi", "-t/--temperature must be a number from 0 to 1.5 (got 'hot')"),
    ("%%cerebras --seed 1,x\nhi", "--seed must be an integer (got 'x')"),
    ("%%cerebras -m a,b,c,d,e -t 0,0.5,1,1.5\nhi", "-m/--model 5 values x -t/--temperature 4 values is 20 answers; "
                                                  "at most 16"),
    ("%%cerebras -m a,b --chat\nhi", "--chat/--new cannot be used with a grid"),
    ("%%cerebras -t 0,1 --panel\nhi", "--panel shows one request"),
    ("%%cerebras --echo\nhi", "--echo works only with --completion"),
    ("%%cerebras --completion --json\nhi", "--json needs the chat endpoint"),
    ("%%cerebras --stop a --stop b --stop c --stop d --stop e\nhi", "at most 4"),
    ("%%cerebras --schema Missing\nhi", "--schema Missing"),
    ("%%cerebras --format fancy\nhi", "invalid choice: 'fancy'"),
    ("%%cerebras\n", "cell body is empty"),
    ("%%cerebras\n  \n\n", "prompt is empty"),
])
def test_bad_input_gives_one_line(shell, capsys, cell, needle):
    res, _ = run(shell, cell)
    out = capsys.readouterr()
    text = out.err + out.out
    assert needle in text, text
    assert "Traceback" not in text
    assert len([ln for ln in text.strip().splitlines() if ln.strip()]) <= 2  # usage banner at most + the line


def test_chat_memory_named_conversations_and_reset(shell, fake_server):
    run(shell, "%%cerebras --chat -s 'Be brief.'\nMy name is Ada.")
    first_answer = shell.user_ns["_"].text
    run(shell, "%%cerebras --chat\nWhat is my name?")
    msgs = body(fake_server)["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == first_answer and msgs[0]["content"] == "Be brief."
    run(shell, "%%cerebras --chat other\nSeparate thread")
    assert [m["role"] for m in body(fake_server)["messages"]] == ["user"]
    run(shell, "%%cerebras --new\nStart over")
    assert [m["role"] for m in body(fake_server)["messages"]] == ["user"]
    run(shell, "%cerebras reset")
    run(shell, "%%cerebras --chat other\nafter reset")
    assert len(body(fake_server)["messages"]) == 1
    run(shell, "%%cerebras\none-off")
    assert len(body(fake_server)["messages"]) == 1


def test_schema_gives_parsed_instance_and_out_var(shell, fake_server):
    run(shell, "from pydantic import BaseModel\nclass City(BaseModel):\n    name: str\n    population: int\n")
    res, msgs = run(shell, "%%cerebras --schema City -o city\nThe largest city in France")
    r = shell.user_ns["city"]
    assert r is res.result and isinstance(r.parsed, shell.user_ns["City"])
    fmt = body(fake_server)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["name", "population"]
    assert "language-json" in msgs[-1]["data"]["text/html"]


def test_dry_run_sends_nothing_and_redacts_key(shell, fake_server):
    n = len(last_posts(fake_server))
    res, msgs = run(shell, "%%cerebras --dry-run -t 0.5 --logprobs 3\nhello")
    assert len(last_posts(fake_server)) == n  # (the model list may be read, to check the model)
    req = msgs[-1]["data"]["application/json"]
    assert req["headers"]["Authorization"] == "Bearer ***" and req["json"]["top_logprobs"] == 3
    assert "test-key" not in json.dumps(msgs)


@pytest.mark.parametrize("fault,needle", [("status:401", "AuthenticationError"), ("status:429", "RateLimitError"),
                                          ("status:500", "InternalServerError"), ("html:502", "HTML error page"),
                                          ("drop:3", "StreamError"), ("stream-error:2", "inside the stream"),
                                          ("malformed:2", "malformed chunk")])
def test_every_fault_gives_one_line_and_a_history_row(shell, fake_server, capsys, fault, needle):
    shell.run_line_magic("config", "Cerebras.max_retries = 0")
    fake_server.fault(fault, times=1)
    res, msgs = run(shell, "%%cerebras --min-tokens 20\ntell me more")
    out = capsys.readouterr()
    text = out.out + out.err
    assert needle in text and "Traceback" not in text and "test-key" not in text
    row = cm.history().iloc[-1]
    assert row["status"] == "error" and needle.split()[0] in row["error"]


def test_html_injection_is_inert(shell):
    evil = '<script>window.pwned=1</script><img src=x onerror=alert(1)> [x](javascript:alert(1)) ![t](http://e.vil/p.png)'
    res, msgs = run(shell, f"%%cerebras --completion --echo --no-interpolate --max-tokens 3\n{evil}")
    html = msgs[-1]["data"]["text/html"]
    assert "<script>" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html
    assert 'src="http://e.vil' not in html  # an image would load by itself (a data leak); a link needs a click


def test_display_updates_bounded_by_time_not_tokens(shell, fake_server):
    shell.run_line_magic("config", "Cerebras.update_rate = 20")
    t0 = time.perf_counter()
    res, msgs = run(shell, "%%cerebras --min-tokens 20000 --max-tokens 20000\nfirehose")
    elapsed = time.perf_counter() - t0
    assert res.result.completion_tokens == 20000
    assert len(msgs) <= 2 + 20 * elapsed + 1  # first display + throttled updates + final render
    assert len(msgs) < 200


def test_live_view_counts_its_fixed_messages_against_the_time_budget(shell, monkeypatch):
    """A fast stream on a fake clock: the first text shows at once, and the whole cell (open, updates,
    empty, final) never exceeds 1 + 2 x rate messages per second of stream."""
    from types import SimpleNamespace

    from cerebras_magic.display import _cell as render
    clock = [1000.0]
    monkeypatch.setattr(render, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    pub, rate = shell.display_pub, 15
    before = len(pub.messages)
    r, result = render.CellRenderer(rate=rate), cm.Result(status="ok")
    r.start(result)
    seen = []
    for step in range(1, 601):  # 2,000 tokens/s for 0.3 s
        clock[0] += 0.0005
        result.text += "x"
        r.update(result, "x")
        sent = len(pub.messages) - before
        seen.append(sent)
        assert sent + 2 <= max(4, 1 + 2 * rate * step * 0.0005), (step, sent)
    assert seen[0] == 2 and pub.messages[before + 1]["data"] == {"text/plain": "x"}  # the first token, at once
    assert seen[-1] >= 3  # and the view still moves
    r.finish(result)
    assert len(pub.messages) - before <= 1 + 2 * rate * 0.3


def test_live_view_sends_a_bounded_tail_of_a_long_answer(shell, monkeypatch):
    """Each live update replaces the view: past LIVE_CHARS it carries the tail, and a long view updates
    less often, so the bytes a long stream sends are bounded per second, not time x length; the final
    render still holds every character."""
    from types import SimpleNamespace

    from cerebras_magic.display import _cell as render
    clock = [1000.0]
    monkeypatch.setattr(render, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    pub = shell.display_pub
    before = len(pub.messages)
    r, result = render.CellRenderer(rate=15), cm.Result(status="ok")
    r.start(result)
    for i in range(20000):  # 10 characters a token, 4,000 tokens/s for 5 s
        clock[0] += 0.00025
        piece = f"tok{i:05d}. "
        result.text += piece
        r.update(result, piece)
    r.finish(result)
    live = [m["data"]["text/plain"] for m in pub.messages[before:-1]]
    assert len(live) > 20 and max(map(len, live)) <= render.LIVE_CHARS + 80
    # the browser re-renders each view whole: a long tail updates less often, so bytes/s stay bounded
    assert sum(map(len, live)) <= render.LIVE_BYTES_PER_SECOND * 5 + render.LIVE_CHARS + 80
    note, tail = live[-2].split("\n", 1)
    assert note.startswith("[… ") and "characters above" in note and len(tail) == render.LIVE_CHARS
    assert tail in result.text and live[-1] == ""  # the last update's tail; then the emptied view
    assert "tok00000." in pub.messages[-1]["data"]["text/plain"] and len(result.text) == 200000
    assert render.live_text("short") == "short"


def test_length_finish_is_said_in_footer(shell):
    res, msgs = run(shell, "%%cerebras --max-tokens 2\nlong please")
    assert "cut at max tokens" in msgs[-1]["data"]["text/plain"]


def test_ctrl_c_mid_stream_keeps_partial_text_and_row(shell, fake_server_paced):
    shell.run_line_magic("config", f"Cerebras.base_url = {fake_server_paced.base_url!r}")
    main = threading.main_thread().ident
    timer = threading.Timer(0.4, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    res, msgs = run(shell, "%%cerebras --min-tokens 5000 --max-tokens 5000\nlong")
    timer.join()
    r = res.result
    assert r.status == "interrupted" and 0 < len(r.text) and r.completion_tokens < 5000
    assert "Interrupted: partial answer kept." in msgs[-1]["data"]["text/plain"]
    assert "⏹" not in msgs[-1]["data"]["text/html"]  # a glyph JupyterLab's default fonts lack
    assert cm.history().iloc[-1]["status"] == "interrupted"
    res, _ = run(shell, "1 + 1")
    assert res.result == 2


def test_missing_key_is_one_line_and_a_row(shell, capsys, monkeypatch):
    monkeypatch.delenv("CEREBRAS_API_KEY")
    shell.run_line_magic("config", "Cerebras.base_url = 'https://api.cerebras.ai'")
    shell.run_line_magic("config", "Cerebras.backend = 'cerebras'")
    res, msgs = run(shell, "%%cerebras\nhello")
    out = capsys.readouterr()
    lines = [ln for ln in (out.out + out.err).splitlines() if ln.strip() and not ln.startswith("Out[")]
    assert len(lines) == 1 and "set CEREBRAS_API_KEY" in lines[0] and "%cerebras key" in lines[0], lines
    assert not any("text/html" in m.get("data", {}) for m in msgs)  # nothing arrived, nothing rendered
    assert cm.history().iloc[-1]["status"] == "error"


def test_schema_mismatch_raises_one_line_with_the_text_kept(shell, fake_server, capsys):
    run(shell, "from pydantic import BaseModel\nclass Strict(BaseModel):\n    x: int")
    res, msgs = run(shell, "%%cerebras --schema Strict --max-tokens 3\ncut short")
    out = capsys.readouterr().out
    assert "ResponseFormatError" in out and "max tokens" in out
    assert res.error_in_exec.result.text and cm.history().iloc[-1]["status"] == "error"


def test_line_commands(shell, capsys, monkeypatch):
    res, _ = run(shell, "%cerebras models")
    assert "llama3.1-8b" in res.result.index
    run(shell, "%%cerebras\na")
    run(shell, "%%cerebras\nb")
    res, _ = run(shell, "%cerebras history -n 1")
    assert len(res.result) == 1 and res.result.iloc[0]["prompt"] == "b"
    assert "status" in res.result.columns and "messages" not in res.result.columns  # the readable subset
    res, _ = run(shell, "%cerebras Why is water wet")
    assert res.result.prompt == "Why is water wet"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "csk-typedkeytypedkey")
    run(shell, "%cerebras key")
    out = capsys.readouterr().out
    assert "csk-typedkeytypedkey" not in out and "memory only" in out
    res, _ = run(shell, "%%cerebras\nwith the typed key")
    assert isinstance(res.error_in_exec, cm.AuthenticationError)  # the fake server expects test-key
    assert cm.history().iloc[-1]["status"] == "error"
    assert "csk-typedkeytypedkey" not in json.dumps(cm.history().astype(str).to_dict())


def test_python_api_shares_the_path(shell, fake_server):
    r = cm.chat("from python", seed=1, logprobs=2)
    assert r.status == "ok" and r.token_logprobs and len(r.token_logprobs[0]["top"]) == 2
    c = cm.complete("Once", max_tokens=3)
    assert c.endpoint == "completion" and c.text
    df = cm.history()
    assert list(df["source"]) == ["python", "python"]
    with pytest.raises(cm.ParameterError):
        cm.chat("x", temperature=9)
    assert cm.history().iloc[-1]["status"] == "error"


def test_reasoning_is_shown_apart_and_collapsed(shell):
    res, msgs = run(shell, "%%cerebras -m qwen-3-32b --max-tokens 20\nthink about it")
    html = msgs[-1]["data"]["text/html"]
    assert res.result.reasoning and "<summary>reasoning (" in html
    assert html.index("<summary>reasoning (") < html.index('class="cm-foot"')


@pytest.mark.parametrize("fmt,marker", [("text", "<pre>"), ("code", "<pre><code>"), ("json", "language-json"),
                                        ("markdown", "<p>")])
def test_format_flag(shell, fmt, marker):
    res, msgs = run(shell, f"%%cerebras --format {fmt} --max-tokens 10\nsay it")
    assert marker in msgs[-1]["data"]["text/html"]
