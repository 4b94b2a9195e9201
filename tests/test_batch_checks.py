"""What a new user's first batches got wrong, over real HTTP to the fake server: templates that would send
the same text for every row, options a batch silently ignored, a 429 inside a stream, the summary's counts."""
import json

import pandas as pd
import pytest

import cerebras_magic as cm
from cerebras_magic.core._batch_out import Stats
from cerebras_magic.display._progress import summary_line

from conftest import run


def sent(srv) -> list:
    return [r.json["messages"][-1]["content"] for r in srv.requests if r.path.endswith("/completions")]


def one_line(info, *words) -> str:
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message


# -- 1. templates that fill nothing ------------------------------------------------------------------
@pytest.mark.parametrize("data, words", [
    (pd.DataFrame({"a": ["x", "y"]}), ["{}", "Series or list", "DataFrame's columns: a", "write {a}"]),
    ([{"name": "x"}, {"name": "y"}], ["{}", "first row's keys: name", "write {name}"]),
])
def test_value_placeholder_over_rows_with_columns_is_one_line(session, fake_server, data, words):
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(data, "C {}", max_tokens=3, progress=False)
    one_line(info, *words)
    assert not sent(fake_server)


def test_a_template_without_placeholder_over_many_rows_is_one_line(session, fake_server):
    for data in (["x", "y"], pd.DataFrame({"a": ["x", "y"]}), (v for v in "xyz")):
        with pytest.raises(cm.ParameterError) as info:
            cm.batch(data, "no placeholder", max_tokens=3, progress=False)
        one_line(info, "no {column} or {} placeholder", "same request", "cm.compare(prompt, n=N)")
    assert not sent(fake_server)
    out = cm.batch(["x"], "no placeholder", max_tokens=3, progress=False)  # one row: one request, as asked
    assert out.status.tolist() == ["ok"] and sent(fake_server) == ["no placeholder"]
    out = cm.batch(["same"] * 2, "{}", max_tokens=3, progress=False)  # the way to send one prompt N times
    assert out.status.tolist() == ["ok", "ok"]


def test_a_cell_with_value_placeholder_over_a_dataframe_is_one_line(shell, fake_server):
    shell.user_ns["df"] = pd.DataFrame({"review": ["good", "bad"]})
    res, _ = run(shell, "%%cerebras --over df --max-tokens 3\nClassify: {}")
    assert type(res.error_in_exec).__name__ == "UsageError"
    assert "\n" not in str(res.error_in_exec) and "review (write {review})" in str(res.error_in_exec)
    assert not sent(fake_server)


# -- 2. tools -----------------------------------------------------------------------------------------
def test_tools_are_refused_in_python_as_in_the_cell(session, fake_server):
    def weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    with pytest.raises(cm.ParameterError) as info:
        cm.batch(["Paris", "Rome"], "Weather in {}?", tools=[weather], progress=False)
    one_line(info, "tools=", "each row on its own", "cm.chat")
    assert not sent(fake_server)


# -- 3. the summary -----------------------------------------------------------------------------------
def _stats(**kw):
    s = Stats(label="lab", total=20)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_the_summary_leads_with_the_input_rows_and_counts_in_good_english():
    line = summary_line(_stats(done=13, ok=9, interrupted=4, not_sent=7, stopped=True))
    assert line.startswith("lab: 20 rows in ") and "s: 9 ok · 0 errors · 4 interrupted · 7 not sent" in line
    line = summary_line(_stats(total=1, done=1, error=1))
    assert line.startswith("lab: 1 row in ") and "0 ok · 1 error ·" in line
    line = summary_line(_stats(total=None, done=3, ok=3, not_sent=2))  # a generator, stopped: rows it read
    assert line.startswith("lab: 5 rows in ")


@pytest.mark.parametrize("usd, shown", [(4.4e-05, "$0.000044"), (0.00012, "$0.00012"), (0.0123, "$0.0123"),
                                        (2.5, "$2.5000"), (0.0, "$0")])
def test_the_cost_keeps_two_significant_figures(usd, shown):
    assert f"completion) · {shown} · 0.0 req/s" in summary_line(_stats(done=20, ok=20, cost_usd=usd))


def test_a_real_batch_summary_shows_a_small_cost(session, fake_server, capsys):
    out = cm.batch(["a", "b"], "Say {}", max_tokens=3)
    printed = capsys.readouterr().out
    cost = out.attrs["batch"]["cost_usd"]
    assert 0 < cost < 0.0001 and "$0.0000 " not in printed and "$0.00" in printed
    assert "batch: 2 rows in " in printed and "2 ok · 0 errors" in printed


# -- 4. options a batch would ignore -------------------------------------------------------------------
def test_retry_errors_needs_a_name(session, fake_server):
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(["a", "b"], "Say {}", retry_errors=True, progress=False)
    one_line(info, "retry_errors=True", "name=")
    assert not sent(fake_server)


def test_logprobs_are_refused(session, fake_server):
    for kwargs in ({"logprobs": 2}, {"top_logprobs": 3}, {"logprobs": True}):
        with pytest.raises(cm.ParameterError) as info:
            cm.batch(["a", "b"], "Say {}", progress=False, **kwargs)
        one_line(info, "logprobs=", "cm.chat(prompt, logprobs=K)")
    assert not sent(fake_server)


@pytest.mark.parametrize("flags, words", [
    ("--retry-errors", ["--retry-errors", "--name NAME"]),
    ("--no-interpolate", ["--no-interpolate", "{{"]),
    ("--logprobs 2", ["--logprobs"]),
])
def test_a_cell_refuses_what_a_batch_would_ignore(shell, fake_server, flags, words):
    shell.user_ns["df"] = pd.DataFrame({"review": ["good", "bad"]})
    res, _ = run(shell, f"%%cerebras --over df {flags} --max-tokens 3\nClassify: {{review}}")
    assert type(res.error_in_exec).__name__ == "UsageError", res.error_in_exec
    message = str(res.error_in_exec)
    assert "\n" not in message and all(w in message for w in words), message
    assert not sent(fake_server)


# -- 5. a 429 inside a stream ----------------------------------------------------------------------------
def test_a_429_inside_a_stream_pauses_and_the_row_is_sent_again(session, fake_server):
    fake_server.fault("stream-error:2", times=1)  # the first request: two events, then a 429 error event
    out = cm.batch([f"q{i}" for i in range(4)], "Say {}", max_tokens=5, concurrency=1, stream=True, name="s429",
                   progress=False)
    assert (out.status == "ok").all() and out.attrs["batch"]["rate_limited"] == 1
    first = [r for r in session.history.rows() if r.get("batch_row") == 0]
    assert [r["status"] for r in first] == ["error", "ok"]  # the failed try is still a history row
    assert "429" in first[0]["error"] and first[0]["batch_key"] == first[1]["batch_key"]
    assert out.history_id[0] == first[1]["id"]
    fake_server.requests.clear()
    again = cm.batch([f"q{i}" for i in range(4)], "Say {}", max_tokens=5, concurrency=1, stream=True, name="s429",
                     progress=False)
    assert again.attrs["batch"]["resumed"] == 4 and not sent(fake_server)  # the ok try is the row's result


def test_a_row_whose_stream_keeps_meeting_429s_fails_alone(session, fake_server):
    fake_server.fault("stream-error:1", times=3)  # its try and both retries
    out = cm.batch(["a", "b"], "Say {}", max_tokens=5, concurrency=1, stream=True, progress=False)
    assert out.status.tolist() == ["error", "ok"] and out.error[0].startswith("RateLimitError")
    assert out.attrs["batch"]["rate_limited"] == 2  # paused before each of the two retries
    assert sent(fake_server) == ["Say a"] * 3 + ["Say b"]


# -- 6. small things -------------------------------------------------------------------------------------
@pytest.mark.parametrize("template", ["{}", "Say {name}", "no placeholder"])
def test_no_rows_give_an_empty_result_with_the_columns(session, fake_server, template):
    out = cm.batch([], template, progress=False)
    assert len(out) == 0 and list(out.columns)[:3] == ["text", "status", "error"] and "history_id" in out.columns
    assert out.attrs["batch"]["total"] == 0 and not sent(fake_server)


@pytest.mark.parametrize("kwargs, words", [
    ({"background": "yes"}, ["background='yes'", "True or False"]),
    ({"stream": "no"}, ["stream='no'", "True or False"]),
    ({"progress": 1}, ["progress=1", "True or False"]),
])
def test_switches_must_be_bools(session, fake_server, kwargs, words):
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(["a", "b"], "Say {}", max_tokens=3, **kwargs)
    one_line(info, *words)
    assert not sent(fake_server)


def test_a_cell_writing_to_a_file_shows_no_empty_dataframe(shell, fake_server, tmp_path):
    shell.user_ns["df"] = pd.DataFrame({"review": ["good", "bad"]})
    path = tmp_path / "f.jsonl"
    res, msgs = run(shell, f"%%cerebras --over df --to {path} --max-tokens 3\nClassify: {{review}}")
    assert res.success and res.result is None
    assert len([json.loads(line) for line in path.read_text().splitlines()]) == 2
    assert "2 rows in" in [m for m in msgs if "data" in m][-1]["data"]["text/plain"]  # the summary is shown


def test_a_cells_dry_run_says_it_shows_the_first_row(shell, fake_server):
    shell.user_ns["df"] = pd.DataFrame({"review": ["good", "bad", "ugly"]})
    res, msgs = run(shell, "%%cerebras --over df --dry-run --max-tokens 3\nClassify: {review}")
    assert res.success
    text = "\n".join(m["data"].get("text/plain", "") for m in msgs if "data" in m)
    assert "row 1 of 3 (the first row's request)" in text and "Classify: good" in text
    assert not sent(fake_server)


# -- 7. format specs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("template, words", [
    ("C {a} {b:.0f}", ["{b:.0f}", "format specs", "df.assign(b=df['b'].map('{:.0f}'.format))", "write {b}"]),
    ("C {a!r}", ["{a!r}", "df.assign(a=df['a'].map(repr))"]),
])
def test_a_format_spec_on_a_column_is_one_line(session, fake_server, template, words):
    df = pd.DataFrame({"a": ["x", "y"], "b": [1.4, 2.6]})
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(df, template, max_tokens=3, progress=False)
    one_line(info, *words)
    assert not sent(fake_server)


def test_brace_text_that_is_not_a_column_is_still_sent_as_written(session, fake_server):
    df = pd.DataFrame({"a": ["x", "y"]})
    out = cm.batch(df, "C {a} as JSON like {label: 1} or {:>10}", max_tokens=3, progress=False)
    assert (out.status == "ok").all() and "C y as JSON like {label: 1} or {:>10}" in sent(fake_server)


def test_a_misspelt_option_or_parameter_is_one_line_before_anything_is_sent(session, fake_server):
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(["a", "b"], "Say {}", concurency=2, progress=False)
    one_line(info, "batch: unknown argument concurency=", "did you mean concurrency=?")
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(["a", "b"], "Say {}", foo=1, progress=False)
    one_line(info, "batch: unknown argument foo=", "extra_body={...}")
    assert not [r for r in fake_server.requests if r.method == "POST"]
