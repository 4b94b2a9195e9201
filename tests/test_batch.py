"""cm.batch over real HTTP to the fake server: ordering, inputs, placeholders, failed rows, files, the key."""
import json
import sqlite3

import pandas as pd
import pytest

import cerebras_magic as cm
from cerebras_magic.core import Ask

KEY = "test-key"


def expected(session, prompt: str, **params) -> str:
    """What the (deterministic) fake answers to this prompt as a one-off call."""
    return session.run(Ask.from_kwargs(prompt, stream=False, **params)).text


def test_rows_come_back_in_input_order_aligned_with_the_index(session, fake_server):
    df = pd.DataFrame({"review": [f"review number {i}" for i in range(12)]}, index=[f"r{i}" for i in range(12)])
    fake_server.fault("stall:2;seconds=0.5", times=1)  # the first row's answer comes last
    out = cm.batch(df, "Classify the sentiment: {review}", max_tokens=6, concurrency=4, progress=False, stream=True)
    assert list(out.index) == list(df.index)
    assert list(out.columns) == ["text", "status", "error", "finish_reason", "prompt_tokens", "completion_tokens",
                                 "ttft", "latency", "cost_usd", "history_id"]
    assert (out.status == "ok").all() and out.error.isna().all()
    rows = {r["id"]: r for r in session.history.rows()}
    finished = [rows[h]["batch_row"] for h in out.history_id]
    assert finished == list(range(12))  # each frame row is the call of that input row
    order = [r["batch_row"] for r in session.history.rows() if r.get("source") == "batch"]
    assert order[-1] == 0 and order != sorted(order)  # they did finish out of order
    sent = [r.json["messages"][-1]["content"] for r in fake_server.requests if r.path.endswith("/completions")]
    assert sorted(sent) == sorted(f"Classify the sentiment: review number {i}" for i in range(12))
    for label in ("r0", "r5", "r11"):
        assert out.loc[label, "text"] == expected(session, f"Classify the sentiment: {df.loc[label, 'review']}",
                                                  max_tokens=6)
    assert out.prompt_tokens.dtype == "Int64" and (out.completion_tokens <= 6).all()
    assert out.latency.notna().all() and out.cost_usd.notna().all() and out.ttft.notna().all()


def test_every_kind_of_input(session, fake_server):
    s = pd.Series(["chat", "dog"], index=[10, 20])
    out = cm.batch(s, "Translate to French: {}", max_tokens=5, progress=False)
    assert list(out.index) == [10, 20] and (out.status == "ok").all()
    assert out.loc[20, "text"] == expected(session, "Translate to French: dog", max_tokens=5)
    out = cm.batch(["a", "b", "c"], "Say {} and {{literally}} {x+1}", max_tokens=5, progress=False)
    assert list(out.index) == [0, 1, 2]
    sent = [r.json["messages"][-1]["content"] for r in fake_server.requests if r.path.endswith("/completions")]
    assert "Say b and {literally} {x+1}" in sent
    out = cm.batch([{"name": "Ada", "year": 1815}, {"name": "Alan", "year": 1912}], "{name} was born in {year}.",
                   max_tokens=5, progress=False)
    assert out.status.tolist() == ["ok", "ok"]
    assert out.loc[1, "text"] == expected(session, "Alan was born in 1912.", max_tokens=5)
    out = cm.batch((f"item {i}" for i in range(7)), "Echo: {}", max_tokens=3, progress=False)
    assert len(out) == 7 and (out.status == "ok").all()


def test_a_value_with_braces_is_sent_as_it_is(session, fake_server):
    out = cm.batch(['{"a": 1}', "{name}"], "Parse: {}", max_tokens=3, progress=False)
    assert (out.status == "ok").all()
    sent = {r.json["messages"][-1]["content"] for r in fake_server.requests if r.path.endswith("/completions")}
    assert sent == {'Parse: {"a": 1}', "Parse: {name}"}


@pytest.mark.parametrize("data, template, words", [
    (pd.DataFrame({"review": ["x"], "id": [1]}), "Classify: {revew}", ["{revew}", "'revew'", "review, id"]),
    (pd.Series(["x"]), "Classify: {review}", ["{review}", "plain values", "{}"]),
    (["x", "y"], "Classify: {review}", ["{review}", "plain values"]),
    ([{"text": "x"}], "Classify: {review}", ["{review}", "first row", "text"]),
    ("just one string", "Classify: {}", ["a str", "iterable of rows"]),
    (42, "Classify: {}", ["int", "not iterable"]),
])
def test_a_bad_placeholder_or_input_is_one_line_before_anything_is_sent(session, fake_server, data, template, words):
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(data, template, max_tokens=5, progress=False)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]


@pytest.mark.parametrize("kwargs, words", [
    ({"concurency": 3}, ["concurency=", "concurrency="]),
    ({"concurrency": 0}, ["concurrency", "≥ 1", "0"]),
    ({"rpm": -5}, ["rpm", "> 0"]),
    ({"max_tokens": 0}, ["max_tokens"]),
    ({"model": "no-such-model"}, ["'no-such-model'", "offers"]),
    ({"to": "out.csv"}, ["out.csv", ".parquet", ".jsonl"]),
    ({"name": ""}, ["name", "non-empty"]),
    ({"chat": "x"}, ["chat="]),
])
def test_bad_arguments_are_one_line(session, fake_server, kwargs, words):
    with pytest.raises(cm.ParameterError) as info:
        cm.batch(["a"], "Say {}", progress=False, **kwargs)
    assert "\n" not in str(info.value) and all(w in str(info.value) for w in words), str(info.value)
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]


def test_a_failed_row_is_a_row_and_the_rest_go_on(session, fake_server):
    fake_server.fault("status:400", times=1)   # not retried: the row fails
    out = cm.batch([f"q{i}" for i in range(6)], "Answer {}", max_tokens=4, concurrency=1, progress=False)
    assert out.status.tolist() == ["error"] + ["ok"] * 5
    assert out.error[0].startswith("BadRequestError") and out.history_id[0]
    assert session.history.find(out.history_id[0])["status"] == "error"
    fake_server.fault("status:503", times=1)   # retried by the client: the row is fine
    out = cm.batch(["a", "b"], "Answer {}", max_tokens=4, concurrency=1, progress=False)
    assert out.status.tolist() == ["ok", "ok"]


def test_a_later_row_missing_a_key_fails_alone(session, fake_server):
    out = cm.batch([{"q": "a"}, {"other": 1}, {"q": "c"}], "Answer {q}", max_tokens=4, progress=False)
    assert out.status.tolist() == ["ok", "error", "ok"]
    assert "ParameterError" in out.error[1] and "'q'" in out.error[1] and pd.isna(out.history_id[1])


def test_schema_gives_parsed_objects(session, fake_server):
    from pydantic import BaseModel

    class Label(BaseModel):
        label: str
        score: float

    out = cm.batch(pd.Series(["great", "awful"]), "Classify: {}", schema=Label, progress=False)
    assert "parsed" in out.columns and "text" not in out.columns
    assert all(isinstance(p, Label) for p in out.parsed) and (out.status == "ok").all()


def test_rows_to_parquet_and_jsonl_as_they_finish(session, fake_server, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    df = pd.DataFrame({"q": [f"q{i}" for i in range(30)]}, index=[f"k{i}" for i in range(30)])
    out = cm.batch(df, "Answer {q}", max_tokens=4, to=tmp_path / "out.parquet", keep=True, progress=False)
    table = pq.read_table(tmp_path / "out.parquet").to_pandas().set_index("index").loc[list(df.index)]
    assert table.text.tolist() == out.text.tolist() and table.row.tolist() == list(range(30))
    assert (table.status == "ok").all()
    lean = cm.batch(df, "Answer {q}", max_tokens=4, to=str(tmp_path / "out.jsonl"), progress=False)
    assert len(lean) == 0 and lean.attrs["batch"]["ok"] == 30  # not kept in memory: it is in the file
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["row"] for r in lines) == list(range(30)) and {r["index"] for r in lines} == set(df.index)


def test_a_generator_of_many_rows_is_read_as_it_goes(session, fake_server, tmp_path):
    session.configure(history_path=str(tmp_path / "h.sqlite"))
    ahead, handle = [], []

    def rows():
        for i in range(1500):
            if handle:
                ahead.append(i - handle[0].progress.done)  # read but not finished: in flight, or just read
            yield f"row {i}"

    handle.append(cm.batch(rows(), "Echo {}", max_tokens=2, concurrency=16, to=tmp_path / "o.jsonl", progress=False,
                           background=True))
    out = handle[0].result(timeout=60)
    assert out.attrs["batch"]["ok"] == 1500 and len(out) == 0
    assert len(ahead) > 1000 and max(ahead) <= 16 + 64 + 1  # in flight + one read window: never the whole input
    assert len(session.history) < 300  # the rows are in the store, not in this session's memory
    count = sqlite3.connect(tmp_path / "h.sqlite").execute("select count(*) from history where source='batch'")
    assert count.fetchone()[0] == 1500


def test_the_summary_at_the_end(session, fake_server, capsys):
    fake_server.fault("status:400", times=1)
    out = cm.batch(["a", "b", "c"], "Say {}", max_tokens=3, name="tiny", concurrency=1)
    printed = capsys.readouterr().out
    assert "tiny: 3 rows in" in printed and "s: 2 ok · 1 error ·" in printed and "tokens (" in printed
    assert "req/s" in printed and "tok/s" in printed and "$" in printed
    figures = out.attrs["batch"]
    assert figures["ok"] == 2 and figures["error"] == 1 and figures["completion_tokens"] == out.completion_tokens.sum()


def test_the_key_never_appears_in_rows_files_or_history(session, fake_server, tmp_path):
    session.configure(history_path=str(tmp_path / "h.sqlite"))
    fake_server.fault("echo-key:401", times=2)
    out = cm.batch(["a", "b", "c"], "Say {}", max_tokens=3, concurrency=1, to=tmp_path / "o.jsonl", keep=True,
                   progress=False)
    assert out.status.tolist() == ["error", "error", "ok"] and "AuthenticationError" in out.error[0]
    assert KEY not in out.to_json() and KEY not in (tmp_path / "o.jsonl").read_text()
    assert KEY.encode() not in (tmp_path / "h.sqlite").read_bytes()


def test_it_runs_inside_an_already_running_event_loop(session, fake_server):
    import asyncio

    async def notebook_cell():  # a kernel's cell runs while its loop is running
        return cm.batch(["a", "b"], "Say {}", max_tokens=3, progress=False)

    out = asyncio.run(notebook_cell())
    assert out.status.tolist() == ["ok", "ok"]
    out = asyncio.run(notebook_cell())  # and again: never "event loop is closed"
    assert out.status.tolist() == ["ok", "ok"]
