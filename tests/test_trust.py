"""Issue 13: every figure right, every message about what the user typed, over real HTTP to the fake server."""
import json
import signal
import threading

import pytest

import cerebras_magic as cm
from tests.conftest import free_port, run


def posts(srv):
    return [r for r in srv.requests if r.method == "POST"]


# -- figures ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["magic", "python"])
def test_a_call_that_was_not_streamed_has_no_ttft_and_a_labelled_rate(shell, fake_server, how):
    if how == "magic":
        res, msgs = run(shell, "%%cerebras --no-stream --min-tokens 60 --max-tokens 60\ncount")
        r, foot = res.result, msgs[-1]["data"]["text/plain"].rsplit("── ", 1)[-1]
    else:
        r = cm.chat("count", stream=False, min_tokens=60, max_tokens=60)
        from cerebras_magic.display import final_bundle
        foot = final_bundle(r)["text/plain"].rsplit("── ", 1)[-1]
    assert r.streamed is False and r.ttft is None and "TTFT" not in foot
    # the fake server's time_info says 60 tokens took 60 / 2000 s: the server's own rate, and said so
    assert r.rate_basis == "server" and r.tokens_per_second == pytest.approx(2000, rel=0.01)
    assert "2,000 tok/s (server)" in foot and "not streamed" in foot
    row = cm.history().iloc[-1]
    assert row["tokens_per_second"] == pytest.approx(2000, rel=0.01) and row["rate_basis"] == "server"
    assert row["ttft"] != row["ttft"]  # NaN: there is no client-side first token


def test_a_rate_without_server_timing_is_over_the_whole_call(fake_server):
    from cerebras_magic.core import Ask, Session
    s = Session(history_path=None, api_key="test-key", base_url=fake_server.base_url)
    r = s.run(Ask("count", params={"min_tokens": 40, "max_tokens": 40}, stream=False))
    r.time_info = None  # as a server that sends none (vLLM, llama.cpp)
    assert r.rate_basis == "whole call" and r.tokens_per_second == pytest.approx(40 / r.duration)
    streamed = s.run(Ask("count", params={"min_tokens": 40, "max_tokens": 40}))
    assert streamed.rate_basis == "stream" and streamed.ttft is not None


def test_raw_token_ids_are_kept_shown_and_stored(shell, fake_server):
    res, msgs = run(shell, "%%cerebras --completion --raw-tokens --max-tokens 8 -o rt\nOnce upon a time")
    rt = shell.user_ns["rt"]
    direct = cm.Client(api_key="test-key", base_url=fake_server.base_url).complete(
        "Once upon a time", max_tokens=8, return_raw_tokens=True)
    assert rt.raw_tokens == direct.choices[0].tokens and all(isinstance(t, int) for t in rt.raw_tokens)
    assert json.dumps(rt.raw_tokens) in msgs[-1]["data"]["text/plain"]
    assert "token ids" in msgs[-1]["data"]["text/html"]
    assert json.loads(cm.history().iloc[-1]["raw_tokens"]) == rt.raw_tokens


def test_a_call_stopped_before_any_answer_says_so(shell, fake_server):
    fake_server.fault("slow:3")
    main = threading.main_thread().ident
    timer = threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    res, msgs = run(shell, "%%cerebras --no-stream\nhello")
    timer.join()
    r = res.result
    assert r.status == "interrupted" and r.text == ""
    shown = msgs[-1]["data"]["text/plain"]
    assert "Interrupted before any answer." in shown and "partial answer" not in shown
    assert cm.history().iloc[-1]["status"] == "interrupted"


# -- what the user typed -----------------------------------------------------------------------------------

def test_braces_that_are_not_variables_are_sent_as_written(shell, fake_server):
    shell.user_ns.update(x=4, d={"k": "value"}, row=type("R", (), {"items": ["first"]})())
    run(shell, '%%cerebras\nReturn {"a": 1} as JSON; {x+1}; {x}; {d[\'k\']}; {d[k]}; {row.items[0]}; {{x}}; {1, 2}; {:>4}')
    assert posts(fake_server)[-1].json["messages"][-1]["content"] == \
        'Return {"a": 1} as JSON; {x+1}; 4; value; value; first; {x}; {1, 2}; {:>4}'


@pytest.mark.parametrize("cell,needle", [
    ("%%cerebras\nabout {nope}", "{nope} in the prompt: 'nope' is not defined; define it, write {{ and }}"),
    ("%%cerebras\n{d[missing]}", "{d[missing]} in the prompt: d has no item [missing]"),
    ("%%cerebras\n{obj.nothing}", "{obj.nothing} in the prompt: obj has no attribute 'nothing'"),
])
def test_an_undefined_name_is_one_line_naming_it(shell, fake_server, capsys, cell, needle):
    shell.user_ns.update(d={}, obj=object())
    n = len(fake_server.requests)
    run(shell, cell)
    out = capsys.readouterr()
    text = out.err + out.out
    assert needle in text and "--no-interpolate" in text and "Traceback" not in text
    assert len(fake_server.requests) == n


def test_dry_run_shows_the_filled_prompt_as_json_and_curl(shell, fake_server):
    shell.user_ns["topic"] = "whales"
    n = len(posts(fake_server))
    res, msgs = run(shell, "%%cerebras --dry-run -t 0.5\nTell me about {topic}")
    assert len(posts(fake_server)) == n
    data = msgs[-1]["data"]
    text = data["text/plain"]
    assert '"content": "Tell me about whales"' in text and '"temperature": 0.5' in text  # pretty JSON
    assert "curl -sS" in text and '"Authorization: Bearer $CEREBRAS_API_KEY"' in text
    assert "test-key" not in json.dumps(data) and "dry run: nothing was sent" in data["text/html"]
    assert data["application/json"]["json"]["messages"][-1]["content"] == "Tell me about whales"


@pytest.mark.parametrize("line,close", [("histroy", "history"), ("modles", "models"), ("playgrond", "playground"),
                                        ("rerun", None)])
def test_a_mistyped_command_is_not_sent_as_a_prompt(shell, fake_server, capsys, line, close):
    n = len(fake_server.requests)
    run(shell, f"%cerebras {line}")
    text = "".join(capsys.readouterr())
    if close:
        assert f"unknown command {line!r}; did you mean {close}?" in text
    else:
        assert "%cerebras rerun N" in text
    assert len(fake_server.requests) == n
    res, _ = run(shell, "%cerebras Why is the sky blue?")
    assert res.result.status == "ok" and res.result.prompt == "Why is the sky blue?"


def test_connection_errors_say_the_class_once(session):
    session.configure(base_url=f"http://127.0.0.1:{free_port()}", max_retries=0)
    with pytest.raises(cm.APIConnectionError) as info:
        cm.chat("hello")
    line = f"{type(info.value).__name__}: {info.value}"
    assert line.count("APIConnectionError") == 1 and "Check the network and the base URL" in line


def test_models_show_dates_and_history_keeps_its_row_numbers(shell, fake_server):
    import datetime
    res, _ = run(shell, "%cerebras models")
    assert all(isinstance(d, datetime.date) for d in res.result["created"])
    for word in "abcd":
        run(shell, f"%%cerebras\n{word}")
    res, _ = run(shell, "%cerebras history -n 2")
    assert list(res.result.index) == [2, 3] and list(res.result["prompt"]) == ["c", "d"]
    run(shell, "%cerebras rerun 2")
    assert posts(fake_server)[-1].json["messages"][-1]["content"] == "c"


def test_a_bare_cell_and_a_new_panel_share_the_config_defaults(shell, session, fake_server):
    shell.run_line_magic("config", "Cerebras.temperature = 0.25")
    shell.run_line_magic("config", "Cerebras.max_tokens = 33")
    p = cm.Playground(session=session, load_models=False)
    assert (p.temperature, p.max_tokens, p.top_p) == (0.25, 33, None)
    p.prompt = "same"
    p.run(wait=True)
    from_panel = posts(fake_server)[-1].body
    run(shell, "%%cerebras\nsame")
    assert posts(fake_server)[-1].body == from_panel
    assert posts(fake_server)[-1].json["temperature"] == 0.25 and "top_p" not in posts(fake_server)[-1].json


# -- faults --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [True, False])
def test_an_html_page_with_200_is_an_error_not_an_empty_answer(session, shell, fake_server, capsys, stream):
    """A proxy or captive portal answering 200 with a web page: the content type and first line are said,
    and the row is an error, from a cell, from Python and from the panel."""
    flag = "" if stream else " --no-stream"
    fake_server.fault("html:200", times=3)
    res, msgs = run(shell, f"%%cerebras{flag}\nhello")
    text = "".join(capsys.readouterr())
    assert isinstance(res.error_in_exec, cm.UnexpectedResponseError)
    assert "text/html" in text and "'<html>'" in text and "Traceback" not in text
    assert cm.history().iloc[-1]["status"] == "error"
    with pytest.raises(cm.UnexpectedResponseError, match="answered 200 with text/html"):
        cm.chat("hello", stream=stream)
    p = cm.Playground(session=session, load_models=False)
    p.prompt = "hello"
    p.run(wait=True)
    assert p.status == "error" and "text/html" in p.error
    assert [r["status"] for r in session.history.rows()[-3:]] == ["error"] * 3


def test_the_local_heatmap_says_why_it_counts_one_token_less_than_the_footer():
    from cerebras_magic import local
    from cerebras_magic.core import Ask, Session
    from cerebras_magic.display import final_bundle
    if not local.available():
        pytest.skip("the local model is not installed")
    s = Session(history_path=None, backend="local")
    r = s.run(Ask("What is the capital of France? One sentence.", params={"seed": 1, "temperature": 0.2,
                                                                           "logprobs": 2, "max_tokens": 40}))
    assert r.finish_reason == "stop" and r.completion_tokens == len(r.token_logprobs) + 1
    bundle = final_bundle(r)
    assert f"answer tokens (+1 end-of-text token, no logprob): {len(r.token_logprobs)} tokens" in bundle["text/plain"]
    assert f"{r.completion_tokens:,} tokens" in bundle["text/plain"]


def test_a_terminal_logprobs_cell_prints_the_line_repr_shows(shell, fake_server, capsys):
    from cerebras_magic.display import CellRenderer, logprobs_summary
    r = cm.chat("Name a colour", logprobs=3, max_tokens=6)
    term = CellRenderer()
    term._terminal = True
    term.finish(r)
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed == "── " + logprobs_summary(r) and f"logprobs=[{logprobs_summary(r)}]" in repr(r)
    assert "\n" not in repr(r)


def test_a_server_that_ignores_stream_still_gives_its_answer(shell, session, fake_server):
    fake_server.fault("ignore-stream", times=3)
    res, msgs = run(shell, "%%cerebras --max-tokens 20\nhello")
    r = res.result
    direct = cm.Client(api_key="test-key", base_url=fake_server.base_url).chat(
        "hello", model=r.model, max_completion_tokens=20)
    assert r.status == "ok" and r.text == direct.text and r.usage.completion_tokens == direct.usage.completion_tokens
    # all tokens came at once: no rate of the stream's own (it read 271,258 tok/s), the server's instead
    assert r.rate_basis == "server" and r.tokens_per_second < 100_000 and "tok/s (server)" in msgs[-1]["data"]["text/plain"]
    assert cm.chat("hello", max_tokens=20).text == direct.text
    p = cm.Playground(session=session, load_models=False)
    p.prompt, p.max_tokens = "hello", 20
    p.run(wait=True)
    assert p.status == "ok" and p.output == direct.text


def test_a_read_timeout_mid_stream_is_the_timeout_error(session, fake_server):
    session.configure(timeout=0.3, max_retries=0)
    fake_server.fault("stall:3;seconds=2")
    with pytest.raises(cm.APITimeoutError) as info:
        cm.chat("hello", max_tokens=30)
    assert "raise the client's timeout" in str(info.value) and "StreamError" not in str(info.value)
    assert cm.history().iloc[-1]["status"] == "error"


@pytest.mark.parametrize("stream", [True, False])
def test_a_key_echoed_by_the_server_is_nowhere_in_the_error(fake_server, stream):
    """An OpenAI-style 'Incorrect API key provided: csk-...' body: the message is scrubbed, and so is every
    attribute reachable from the exception (body, headers, the exception it came from)."""
    from cerebras_magic.core import Ask, Session
    secret = "csk-echoedechoedechoed123"
    s = Session(history_path=None, api_key=secret, base_url=fake_server.base_url, model="llama-3.3-70b",
                max_retries=0)
    fake_server.fault("echo-key:401")
    r = s.run(Ask("hello", stream=stream), errors="return")
    exc = r.exception
    assert r.status == "error" and isinstance(exc, cm.AuthenticationError)
    assert secret in posts(fake_server)[-1].headers["authorization"]  # it was sent, and echoed back
    seen = [repr(exc), str(exc), r.error, repr(exc.__context__), repr(exc.__cause__), json.dumps(r.to_row())]
    seen += [repr(getattr(exc, name)) for name in dir(exc) if not name.startswith("__")]
    assert all(secret not in text for text in seen)
    assert exc.__context__ is None and exc.__cause__ is None


def test_a_short_key_is_masked_where_it_stands_alone_not_inside_words():
    """With a local server's key "x", every x of a message was masked ('e***ceeded')."""
    from cerebras_magic._errors import redact
    line = redact("Tokens per minute limit exceeded; lower max tokens. Bearer x, key=x", "x")
    assert line == "Tokens per minute limit exceeded; lower max tokens. Bearer ***, key=***"
    real = "csk-" + "a1" * 20
    assert redact(f"echo:{real}!{real[4:]}", real[4:]) == "echo:csk-***!***"  # a real key: everywhere


# -- what a second new user typed ---------------------------------------------------------------------------
@pytest.mark.parametrize("setting,says", [
    ({"timeout": -1}, "timeout= must be a number of seconds > 0 (got -1)"),
    ({"max_retries": -2}, "max_retries= must be an integer ≥ 0 (got -2)"),
    ({"temperature": 9}, "temperature must be a number from 0 to 1.5 (got 9)"),
    ({"backend": "gpu"}, "backend= must be one of auto, cerebras, local (got 'gpu')"),
    ({"base_url": "not a url"}, "base_url= must be an http:// or https:// URL"),
    ({"stream": "yes"}, "stream= must be True or False (got 'yes')"),
])
def test_a_bad_setting_is_refused_when_it_is_set(session, setting, says):
    """It used to be kept, and every later call failed (a timeout of -1: httpx's traceback)."""
    before = (dict(session.options), dict(session.defaults))
    with pytest.raises(cm.ParameterError) as info:
        cm.configure(**setting)
    assert says in str(info.value) and (dict(session.options), dict(session.defaults)) == before


def test_a_key_in_the_base_url_is_refused_without_repeating_it(session, fake_server, monkeypatch):
    secret = "csk-trialsecret1234567890"
    url = f"http://user:{secret}@127.0.0.1:9/v1"
    with pytest.raises(cm.ParameterError) as info:
        cm.configure(base_url=url)
    assert "holds credentials" in str(info.value) and secret not in str(info.value)
    monkeypatch.setenv("CEREBRAS_BASE_URL", url)
    with pytest.raises(cm.ParameterError) as info:
        cm.Client(api_key="k")
    assert secret not in str(info.value)


def test_config_refuses_a_bad_value_and_keeps_the_old_one(shell, caplog):
    shell.run_line_magic("config", "Cerebras.temperature = 0.3")
    shell.run_cell("%config Cerebras.temperature = 9")
    assert shell.run_line_magic("config", "Cerebras.temperature") == 0.3
    assert "%config Cerebras.temperature must be a number from 0 to 1.5 (got 9)" in caplog.text
    from cerebras_magic.core import default_session
    assert default_session().defaults["temperature"] == 0.3


@pytest.mark.parametrize("call,says", [
    (lambda: cm.chat("hi", min_tokens=10, max_tokens=5), "min_tokens 10 is more than max_tokens 5"),
    (lambda: cm.chat("  "), "the prompt is empty"),
    (lambda: cm.chat(123), "the prompt must be a string, content parts or a list of"),
])
def test_python_calls_are_checked_like_cells(session, fake_server, call, says):
    with pytest.raises(cm.ParameterError) as info:
        call()
    assert says in str(info.value) and "\n" not in str(info.value)
    assert not [r for r in fake_server.requests if r.method == "POST"]


@pytest.mark.parametrize("cell,says", [
    ("%cerebras history -n -1", "N must be an integer ≥ 1"),
    ("%cerebras history last", "N is how many of the last rows"),
    ("%cerebras reset nosuch", "reset nosuch: no conversation of that name"),
    ("%cerebras limits now", "takes no words after it"),
    ("%%cerebras -o 1bad\nhi", "-o 1bad: the name of a Python variable"),
])
def test_line_commands_and_flags_refuse_what_they_would_misread(shell, fake_server, cell, says):
    res = shell.run_cell(cell)
    assert type(res.error_in_exec).__name__ == "UsageError" and says in str(res.error_in_exec)
    assert "1bad" not in shell.user_ns


def test_a_request_count_429_does_not_say_lower_max_tokens(session, fake_server):
    session.configure(max_retries=0)
    fake_server.fault("status:429", times=1)
    with pytest.raises(cm.RateLimitError) as info:
        cm.chat("hi", max_tokens=5)
    assert "send fewer requests at once" in str(info.value) and "lower max tokens" not in str(info.value)


def test_no_colour_when_the_shell_says_nocolor(shell):
    from cerebras_magic.display._cell import _dim
    err = cm.ParameterError("bad")
    shell.colors = "NoColor"
    try:
        assert err._render_traceback_() == ["ParameterError: bad"]
    finally:
        shell.colors = "Neutral"
    assert "\x1b[" in err._render_traceback_()[0]
    assert _dim("thinking") == "thinking"  # pytest's stdout is no terminal


def test_a_local_dry_run_shows_no_curl(shell):
    from cerebras_magic.display._cell import dry_run_bundle
    b = dry_run_bundle({"method": "POST", "url": "http://local.cerebras-magic/v1/chat/completions",
                        "headers": {}, "json": {"messages": []}})
    assert "curl" not in b["text/plain"] and "curl" not in b["text/html"] and "no HTTP server" in b["text/plain"]
