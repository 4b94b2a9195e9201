"""History: rows survive SIGKILL and concurrent kernels, and read back as a typed DataFrame."""
import contextlib
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings


from cerebras_magic.core._store import COLUMNS, History, HistoryWarning, default_path
from cerebras_magic.core._result import Result

KNOWN = list(COLUMNS)  # to_row() keys, then session_id


def make_row(i: int = 0, **extra) -> dict:
    result = Result(model="llama3.1-8b", prompt=f"prompt {i}", source="python", backend="local",
                    messages=[{"role": "user", "content": f"prompt {i}"}], params={"temperature": 0})
    result.text = f"answer {i}"
    result.finish_reason = "stop"
    result.finish("ok")
    row = result.to_row()
    row["prompt_tokens"] = 10 + i
    row.update(extra)
    return row


def stored_rows(path) -> list:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM history ORDER BY rowid")]


def test_append_keeps_rows_in_order_and_commits_at_once(tmp_path):
    path = tmp_path / "h.sqlite"
    history = History(path)
    assert not path.exists()  # constructing touches nothing
    for i in range(3):
        history.append(make_row(i))
    assert len(history) == 3
    assert [r["prompt"] for r in history.rows()] == ["prompt 0", "prompt 1", "prompt 2"]
    assert all(r["session_id"] == history.session_id for r in history.rows())
    stored = stored_rows(path)  # another connection sees them: committed, not buffered
    assert [r["prompt"] for r in stored] == ["prompt 0", "prompt 1", "prompt 2"]
    assert list(stored[0])[:len(KNOWN)] == KNOWN
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_dataframe_columns_and_dtypes(tmp_path):
    history = History(tmp_path / "h.sqlite")
    history.append(make_row(0, ttft=0.25))
    history.append(make_row(1, ttft=None, status="error", error="boom"))
    df = history.to_dataframe()
    assert list(df.columns) == KNOWN
    assert list(df.index) == [0, 1]
    assert str(df["started_at"].dtype).startswith("datetime64") and str(df["started_at"].dt.tz) == "UTC"
    for name in ("prompt_tokens", "completion_tokens", "ratelimit_remaining_tokens"):
        assert df[name].dtype == "Int64", name  # counts stay whole numbers, with NA for missing
    for name in ("ttft", "duration", "tokens_per_second"):
        assert df[name].dtype == "float64", name
    assert df["prompt_tokens"].tolist() == [10, 11]
    assert df["ttft"].isna().tolist() == [False, True]
    assert df["status"].tolist() == ["ok", "error"]
    stored = history.to_dataframe(all_sessions=True)
    assert list(stored.columns) == KNOWN and stored.dtypes.equals(df.dtypes)
    assert stored["id"].tolist() == df["id"].tolist()


def test_n_keeps_the_last_rows(tmp_path):
    history = History(tmp_path / "h.sqlite")
    for i in range(5):
        history.append(make_row(i))
    assert history.to_dataframe(n=2)["prompt"].tolist() == ["prompt 3", "prompt 4"]
    assert history.to_dataframe(all_sessions=True, n=2)["prompt"].tolist() == ["prompt 3", "prompt 4"]
    assert len(history.to_dataframe(n=0)) == 0
    assert len(history.to_dataframe(n=50)) == 5


def test_empty_history_gives_an_empty_frame_with_all_columns(tmp_path):
    history = History(tmp_path / "h.sqlite")
    for df in (history.to_dataframe(), history.to_dataframe(all_sessions=True)):
        assert df.empty and list(df.columns) == KNOWN
        assert df["prompt_tokens"].dtype == "Int64" and df["ttft"].dtype == "float64"
        assert str(df["started_at"].dtype).startswith("datetime64")
    assert not (tmp_path / "h.sqlite").exists()  # reading an absent store does not create it


def test_memory_only_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    history = History(None)
    history.append(make_row(0))
    assert history.path is None and len(history) == 1
    assert len(history.to_dataframe(all_sessions=True)) == 1
    assert list(tmp_path.iterdir()) == []


def test_default_path_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CEREBRAS_MAGIC_HISTORY", str(tmp_path / "x.sqlite"))
    assert default_path() == tmp_path / "x.sqlite" and History().path == tmp_path / "x.sqlite"
    for off in ("none", "None", ""):
        monkeypatch.setenv("CEREBRAS_MAGIC_HISTORY", off)
        assert default_path() is None and History().path is None
    monkeypatch.delenv("CEREBRAS_MAGIC_HISTORY")
    assert default_path().parts[-2:] == (".cerebras_magic", "history.sqlite")


def test_clear_forgets_memory_not_the_store(tmp_path):
    history = History(tmp_path / "h.sqlite")
    history.append(make_row(0))
    history.clear()
    assert len(history) == 0 and history.to_dataframe().empty
    assert len(history.to_dataframe(all_sessions=True)) == 1


def test_all_sessions_sees_two_histories_on_one_file(tmp_path):
    path = tmp_path / "h.sqlite"
    first, second = History(path), History(path, session_id="second")
    first.append(make_row(0))
    second.append(make_row(1))
    first.append(make_row(2))
    assert len(first.to_dataframe()) == 2 and len(second.to_dataframe()) == 1
    both = second.to_dataframe(all_sessions=True)
    assert both["prompt"].tolist() == ["prompt 0", "prompt 1", "prompt 2"]
    assert both["session_id"].tolist() == [first.session_id, "second", first.session_id]


def test_extra_keys_become_columns_and_secrets_are_dropped(tmp_path):
    path = tmp_path / "h.sqlite"
    history, other = History(path), History(path)
    history.append(make_row(0, api_key="sk-secret", Authorization="Bearer x", seed=7))
    other.append(make_row(1, seed=8, tags=["a", "b"]))  # another connection: column already added
    history.append(make_row(2, tags=["c"]))
    assert "api_key" not in history.rows()[0] and "authorization" not in history.rows()[0]
    df = history.to_dataframe(all_sessions=True)
    assert list(df.columns) == KNOWN + ["seed", "tags"]
    assert df["seed"].tolist()[:2] == [7, 8] and df["tags"].tolist()[1:] == ['["a", "b"]', '["c"]']
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert "sk-secret" not in str(conn.execute("SELECT * FROM history").fetchall())
    assert list(history.to_dataframe().columns) == KNOWN + ["seed", "tags"]


def _append_many(path, count, barrier, prefix):
    warnings.simplefilter("error", HistoryWarning)  # a lock timeout would make the child fail
    history = History(path)
    barrier.wait()
    for i in range(count):
        history.append(make_row(i, id=f"{prefix}-{i}"))


def test_several_processes_append_to_one_file(tmp_path):
    path = tmp_path / "h.sqlite"
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_append_many, args=(path, 200, barrier, f"p{k}")) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    df = History(path).to_dataframe(all_sessions=True)
    assert len(df) == 800 and df["id"].is_unique and df["session_id"].nunique() == 4


def _wait_until_dead(km, timeout=10.0):
    deadline = time.monotonic() + timeout
    while km.is_alive():
        assert time.monotonic() < deadline, "kernel still alive after SIGKILL"
        time.sleep(0.02)


def test_rows_survive_sigkill_of_a_real_kernel(tmp_path):
    from jupyter_client.manager import start_new_kernel

    path = tmp_path / "h.sqlite"
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        code = (f"import os\nfrom cerebras_magic.core._store import History\nh = History({str(path)!r})\n"
                f"for i in range(3):\n    h.append({{'id': f'k{{i}}', 'prompt': 'p', 'status': 'ok'}})\n")
        reply = kc.execute_interactive(code, user_expressions={"pid": "os.getpid()", "n": "len(h)"},
                                       timeout=60, output_hook=lambda msg: None)
        content = reply["content"]
        assert content["status"] == "ok", content
        assert content["user_expressions"]["n"]["data"]["text/plain"] == "3"
        pid = int(content["user_expressions"]["pid"]["data"]["text/plain"])
        os.kill(pid, signal.SIGKILL)
        _wait_until_dead(km)  # also proves the pid we killed is the kernel process itself
        assert [r["id"] for r in stored_rows(path)] == ["k0", "k1", "k2"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_import_does_not_import_pandas():
    code = "import sys, cerebras_magic.core._store; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_threads_append_to_one_history(tmp_path):
    history = History(tmp_path / "h.sqlite")

    def worker(k):
        for i in range(50):
            history.append(make_row(i, id=f"t{k}-{i}"))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(history) == 200 and len(stored_rows(tmp_path / "h.sqlite")) == 200
