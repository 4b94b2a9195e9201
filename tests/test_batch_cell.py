"""`%%cerebras --over VAR`: the cell front end of a batch, in a real InteractiveShell on the fake server; and
the progress view in a notebook and in a terminal."""
import io

import pandas as pd

from cerebras_magic.core._batch_out import Stats
from cerebras_magic.display._progress import ProgressView, bundle, progress_line

from conftest import run


def _df(shell, n=5):
    shell.user_ns["df"] = pd.DataFrame({"review": [f"review {i}" for i in range(n)]}, index=list("abcdefghij"[:n]))


def test_over_a_dataframe_with_name_and_out(shell, fake_server):
    _df(shell)
    res, msgs = run(shell, "%%cerebras --over df --name cellrun -o out --max-tokens 5 -t 0\nClassify: {review}")
    assert res.success and res.result is None
    out = shell.user_ns["out"]
    assert list(out.index) == list("abcde") and (out.status == "ok").all()
    sent = [r.json for r in fake_server.requests if r.path.endswith("/completions")]
    assert sorted(b["messages"][-1]["content"] for b in sent) == [f"Classify: review {i}" for i in range(5)]
    assert all(b["max_completion_tokens"] == 5 and b["temperature"] == 0 for b in sent)  # the cell's flags
    final = [m for m in msgs if m.get("data", {}).get("text/plain") and not m.get("update")][-1]["data"]
    assert "cellrun 5/5" in final["text/plain"] and "cellrun: 5 rows in" in final["text/plain"]
    assert "cm-batch" in final["text/html"]
    fake_server.requests.clear()
    res, _ = run(shell, "%%cerebras --over df --name cellrun -o out --max-tokens 5 -t 0\nClassify: {review}")
    assert res.success and not [r for r in fake_server.requests if r.path.endswith("/completions")]  # resumed


def test_a_cell_resumes_the_rows_of_the_same_batch_from_python(shell, fake_server):
    import cerebras_magic as cm
    _df(shell)
    cm.batch(shell.user_ns["df"], "Classify: {review}", name="both", temperature=0, seed=1, max_tokens=4,
             progress=False)
    fake_server.requests.clear()
    res, _ = run(shell, "%%cerebras --over df --name both -o out -t 0 --seed 1 --max-tokens 4\nClassify: {review}")
    assert res.success and shell.user_ns["out"].attrs["batch"]["resumed"] == 5
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]


def test_the_progress_view_is_created_empty_and_the_final_bar_is_its_own_output(shell, fake_server):
    _df(shell)
    _, msgs = run(shell, "%%cerebras --over df -o out --max-tokens 5\nClassify: {review}")
    shown = [m for m in msgs if "data" in m]
    first, last_update = shown[0], [m for m in shown if m["update"]][-1]
    assert first["data"] == {"text/plain": ""} and not first["update"] and first["transient"].get("display_id")
    assert last_update["data"] == {"text/plain": ""}  # emptied: a saved notebook matches what nbval sees
    assert not shown[-1]["update"] and "5/5" in shown[-1]["data"]["text/plain"]


def test_the_bar_updates_at_a_bounded_rate(shell, session):
    import time

    from cerebras_magic.testing import FakeServer
    with FakeServer(api_key="test-key", tokens_per_second=1000, ttft=0.05) as srv:
        shell.run_line_magic("config", f"Cerebras.base_url = {srv.base_url!r}")
        shell.user_ns["many"] = [f"row {i}" for i in range(150)]
        t0 = time.monotonic()
        res, msgs = run(shell, "%%cerebras --over many -o out --max-tokens 20 --concurrency 8\nLabel: {}")
        took = time.monotonic() - t0
    assert res.success and took > 1.0
    updates = [m for m in msgs if m.get("update")]
    assert 2 <= len(updates) <= 4 * took + 2  # 4 a second at most, whatever the number of rows
    live = [m["data"]["text/plain"] for m in updates[:-1]]
    assert any("ETA" in t and "req/s" in t for t in live)


def test_without_out_the_dataframe_is_the_cells_value(shell, fake_server):
    shell.user_ns["items"] = ["a", "b"]
    res, _ = run(shell, "%%cerebras --over items --max-tokens 3\nSay {}")
    assert isinstance(res.result, pd.DataFrame) and res.result.status.tolist() == ["ok", "ok"]


def test_a_bad_cell_is_one_line_and_sends_nothing(shell, fake_server):
    _df(shell)
    for cell, words in (("--over df\nClassify: {revew}", ["{revew}", "'revew'", "review"]),
                        ("--over nothing\nSay {}", ["--over nothing", "no variable"]),
                        ("--over df --chat\nSay {review}", ["--chat"]),
                        ("--over df --concurrency 0\nSay {review}", ["--concurrency", "≥ 1"]),
                        ("--over df -m llama-3.3-70b,gpt-oss-120b\nSay {review}", ["one value per flag"]),
                        ("--name x\nSay hi", ["--name works with --over"]),
                        ("--over df --max-tokens 0\nSay {review}", ["--max-tokens"])):
        res, _ = run(shell, "%%cerebras " + cell)
        assert not res.success and type(res.error_in_exec).__name__ == "UsageError", cell
        assert all(w in str(res.error_in_exec) for w in words), (cell, str(res.error_in_exec))
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]


def test_dry_run_shows_the_first_rows_request(shell, fake_server):
    _df(shell)
    res, msgs = run(shell, "%%cerebras --over df --dry-run --max-tokens 5\nClassify: {review}")
    assert res.success
    text = "".join(m["data"].get("text/plain", "") for m in msgs if "data" in m)
    assert "Classify: review 0" in text and "review 1" not in text and '"stream": false' in text
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]


def test_background_cell_gives_the_handle(shell, fake_server):
    _df(shell)
    res, _ = run(shell, "%%cerebras --over df --background -o job --max-tokens 3\nSay {review}")
    assert res.success
    out = shell.user_ns["job"].result(timeout=30)
    assert (out.status == "ok").all()


def _stats(**kw):
    s = Stats(label="lab", total=10)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_progress_line_and_bundle_escape_the_name():
    p = _stats(done=4, ok=3, error=1)
    line = progress_line(p)
    assert line.startswith("lab 4/10 · ok 3 · error 1") and "req/s" in line and "tok/s" in line
    evil = _stats(label="<b>x</b>\x1b[31m", done=1, ok=1)
    b = bundle(evil, summary="<script>")
    assert "<b>x" not in b["text/html"] and "<script>" not in b["text/html"] and "\x1b" not in b["text/plain"]


def test_terminal_progress_is_plain_text_at_a_bounded_rate():
    stream = io.StringIO()
    view = ProgressView(stream=stream, notebook=False)
    for i in range(1000):  # a fast batch: a thousand chances to update
        view.update(_stats(done=i % 10, ok=i % 10))
    assert stream.getvalue() == ""  # a log file gets a line every 5 s at most, the first after 5 s
    view._last -= 5
    view.update(_stats(done=3, ok=3))
    assert stream.getvalue().count("\n") == 1 and "lab 3/10" in stream.getvalue()
    tty = io.StringIO()
    tty.isatty = lambda: True
    view = ProgressView(stream=tty, rate=4, notebook=False)
    view.update(_stats(done=2, ok=2))
    assert tty.getvalue().startswith("\r[######") and "lab 2/10" in tty.getvalue()
