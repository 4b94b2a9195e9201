"""Resuming a named batch (after kill -9, Ctrl-C, stop()), retry_errors, and the background handle."""
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

import cerebras_magic as cm
from cerebras_magic.testing import FakeServer

KEY = "test-key"


def completions(srv) -> int:
    return sum(1 for r in srv.requests if r.path.endswith("/completions"))


def ok_rows(path, name) -> int:
    try:
        with sqlite3.connect(path) as db:
            return db.execute("select count(*) from history where batch = ? and status = 'ok'", (name,)).fetchone()[0]
    except sqlite3.OperationalError:  # no table or no batch column yet
        return 0


def test_a_rerun_sends_only_what_has_no_result(session, fake_server):
    df = pd.DataFrame({"q": [f"question {i}" for i in range(20)]})
    first = cm.batch(df, "Answer: {q}", max_tokens=4, name="r1", progress=False)
    assert completions(fake_server) == 20
    fake_server.requests.clear()
    again = cm.batch(df, "Answer: {q}", max_tokens=4, name="r1", progress=False)
    assert completions(fake_server) == 0 and again.attrs["batch"]["resumed"] == 20
    cols = ["text", "status", "prompt_tokens", "completion_tokens", "history_id"]
    pd.testing.assert_frame_equal(again[cols], first[cols])
    bigger = pd.DataFrame({"q": [f"question {i}" for i in range(25)]})
    cm.batch(bigger, "Answer: {q}", max_tokens=4, name="r1", progress=False)
    assert completions(fake_server) == 5  # only the new rows
    fake_server.requests.clear()
    cm.batch(df, "Answer briefly: {q}", max_tokens=4, name="r1", progress=False)  # a changed template
    assert completions(fake_server) == 20
    fake_server.requests.clear()
    cm.batch(df, "Answer: {q}", max_tokens=5, name="r1", progress=False)  # a changed parameter
    assert completions(fake_server) == 20
    fake_server.requests.clear()
    cm.batch(df, "Answer: {q}", max_tokens=4, name="another", progress=False)  # another name: its own rows
    assert completions(fake_server) == 20


def test_failed_rows_are_kept_unless_retry_errors(session, fake_server):
    fake_server.fault("status:400", times=2)
    first = cm.batch([f"q{i}" for i in range(6)], "Say {}", max_tokens=3, name="r2", concurrency=1, progress=False)
    assert first.status.tolist() == ["error", "error", "ok", "ok", "ok", "ok"]
    fake_server.requests.clear()
    again = cm.batch([f"q{i}" for i in range(6)], "Say {}", max_tokens=3, name="r2", progress=False)
    assert completions(fake_server) == 0 and again.status.tolist() == first.status.tolist()
    assert again.error[0] == first.error[0]
    fixed = cm.batch([f"q{i}" for i in range(6)], "Say {}", max_tokens=3, name="r2", retry_errors=True, progress=False)
    assert completions(fake_server) == 2 and (fixed.status == "ok").all()
    fake_server.requests.clear()
    cm.batch([f"q{i}" for i in range(6)], "Say {}", max_tokens=3, name="r2", retry_errors=True, progress=False)
    assert completions(fake_server) == 0  # an ok row anywhere in the history wins over the old errors


SCRIPT = """
import sys
import cerebras_magic as cm
from cerebras_magic.core import Session
url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = Session(history_path=path, base_url=url, api_key="{key}", model="llama-3.3-70b")
cm.batch([f"row {{i}}" for i in range(n)], "Label: {{}}", max_tokens=8, concurrency=4, name="crash", session=s,
         progress=False)
print("finished")
""".format(key=KEY)


def test_resume_after_kill_9(tmp_path, monkeypatch):
    monkeypatch.setenv("CEREBRAS_API_KEY", KEY)
    n, path = 200, tmp_path / "h.sqlite"
    with FakeServer(api_key=KEY, tokens_per_second=1000, ttft=0.04) as srv:
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, srv.base_url, str(path), str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while ok_rows(path, "crash") < n // 2:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        done_before = ok_rows(path, "crash")
        assert n // 2 <= done_before < n  # killed about halfway
        srv.requests.clear()
        from cerebras_magic.core import Session
        s = Session(history_path=str(path), base_url=srv.base_url, model="llama-3.3-70b")
        out = cm.batch([f"row {i}" for i in range(n)], "Label: {}", max_tokens=8, concurrency=8, name="crash",
                       session=s, progress=False)
        s.close()
    assert (out.status == "ok").all() and len(out) == n
    assert completions(srv) == n - done_before  # exactly the unfinished rows were sent
    assert out.attrs["batch"]["resumed"] == done_before


def _when(condition, then, timeout=30):
    """Run `then` (on a thread) once `condition()` holds."""
    def watch():
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        then()
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.fixture
def paced(session):
    with FakeServer(api_key=KEY, tokens_per_second=1000, ttft=0.05) as srv:
        session.configure(base_url=srv.base_url)
        yield srv


def test_ctrl_c_keeps_the_finished_rows_and_the_rerun_sends_the_rest(session, paced, capsys):
    rows = [f"row {i}" for i in range(120)]
    finished = lambda: sum(1 for r in session.history.rows() if r["status"] == "ok") >= 20  # noqa: E731
    _when(finished, lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGINT))
    out = cm.batch(rows, "Label: {}", max_tokens=20, concurrency=4, name="ctrlc")  # returns, does not raise
    counts = out.status.value_counts().to_dict()
    assert counts["ok"] >= 20 and counts.get("interrupted", 0) <= 4 and counts["not_sent"] > 50
    assert len(out) == 120 and "stopped: run the same batch again" in capsys.readouterr().out
    assert {r["status"] for r in session.history.rows()} <= {"ok", "interrupted"}
    interrupted = [r for r in session.history.rows() if r["status"] == "interrupted"]
    assert len(interrupted) == counts.get("interrupted", 0)
    paced.requests.clear()
    rest = cm.batch(rows, "Label: {}", max_tokens=20, concurrency=8, name="ctrlc", progress=False)
    assert (rest.status == "ok").all() and completions(paced) == 120 - counts["ok"]
    assert (rest.text[out.status == "ok"] == out.text[out.status == "ok"]).all()


def test_background_handle_progress_stop_and_result(session, paced):
    run = cm.batch([f"row {i}" for i in range(200)], "Label: {}", max_tokens=20, concurrency=4, background=True,
                   progress=False, name="bg")
    assert isinstance(run, cm.BatchRun) and not run.done()
    deadline = time.monotonic() + 30
    while run.progress.ok < 10:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p = run.progress
    assert p.total == 200 and p.done >= 10 and p.rps > 0 and p.eta is not None and "bg" in repr(run)
    with pytest.raises(TimeoutError):
        run.result(timeout=0.01)
    run.stop()
    out = run.result(timeout=10)
    assert run.done() and out.attrs["batch"]["stopped"]
    assert 10 <= (out.status == "ok").sum() < 200 and (out.status == "not_sent").sum() > 0
    assert run.summary.startswith("bg: 200 rows in ")  # the input's rows, not the finished ones
    run.stop()  # stopping a finished batch is harmless
