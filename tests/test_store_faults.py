"""The history store failing never costs the user the answer (issue 13 item 18).

Every condition is made for real, none by mocking sqlite3:
- locked: another process holds SQLite's write lock (`BEGIN EXCLUSIVE`, then it waits);
- read-only: `chattr +i` on the directory and the file (works as root, where chmod does not; skipped on a
  filesystem without the attribute), a read-only filesystem (a private tmpfs remounted `ro`, in a user and
  mount namespace: `unshare -Urm`, skipped where that is not allowed), and a directory that cannot be made
  because a path component is a regular file;
- full: a private 256 KiB tmpfs filled to the last block (ENOSPC, "database or disk is full"), and a
  process whose RLIMIT_FSIZE stops the file growing (EFBIG, which SQLite reports as a disk I/O error);
- corrupt: a file of garbage bytes, and a real store truncated to a part of its pages.
Each gives one warning line naming the path and the cause, keeps the rows in memory, and writes them once,
in order, when the store works again (one line says so), or says where they went instead.
"""
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from cerebras_magic.core import _store_faults as faults
from cerebras_magic.core._store import History, HistoryWarning
from test_store import make_row, stored_rows

PREFIX = "cerebras_magic history: "


def ids(history, **kw):
    return history.to_dataframe(**kw)["id"].tolist()


def held(history, *prompts):
    """The rows are this session's, in memory, in order, in both frames."""
    assert [r["prompt"] for r in history.rows()] == list(prompts)
    assert history.to_dataframe()["prompt"].tolist() == list(prompts)


@contextlib.contextmanager
def recording():
    """Every HistoryWarning issued inside, as its message text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines = []
        yield lines
    lines += [str(w.message) for w in caught if issubclass(w.category, HistoryWarning)]


def one_line(lines, *words):
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(PREFIX) and "\n" not in line and "Traceback" not in line, line
    for word in words:
        assert str(word) in line, (word, line)
    return line


# -- locked ---------------------------------------------------------------------------------------------
LOCKER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "new":  # a store someone else made, in rollback-journal mode: even reads wait
        conn.execute("CREATE TABLE history (id TEXT)")
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
""")


@contextlib.contextmanager
def locked(path, mode="existing"):
    """Another process holding the store's write lock until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        assert proc.wait(10) == 0


def test_locked_store_holds_rows_without_freezing_the_call_and_writes_them_once(tmp_path):
    path = tmp_path / "h.sqlite"
    history = History(path)
    history.append(make_row(0))
    with locked(path):
        with recording() as lines:
            started = time.monotonic()
            history.append(make_row(1))
            first = time.monotonic() - started
            started = time.monotonic()
            history.append(make_row(2))  # within retry_after: the store is not tried again
            second = time.monotonic() - started
            assert history.unsaved == 2 and history.flush() is False  # still locked: nothing more said
            df = history.to_dataframe(all_sessions=True)  # WAL: the store is still readable
        one_line(lines, path, "locked by another process", "database is locked", "kept in memory")
        assert first < 1.5 and second < 0.1, (first, second)
        held(history, "prompt 0", "prompt 1", "prompt 2")
        assert df["prompt"].tolist() == ["prompt 0", "prompt 1", "prompt 2"]
        assert [r["prompt"] for r in stored_rows(path)] == ["prompt 0"]
    with recording() as lines:
        assert history.flush() is True
        history.append(make_row(3))
        history.flush()
    one_line(lines, path, "works again: 2 held rows written")
    assert [r["prompt"] for r in stored_rows(path)] == [f"prompt {i}" for i in range(4)]  # in order, once
    assert ids(history, all_sessions=True) == ids(history)

    with locked(path), recording() as lines:  # a new problem later is said again, once
        history.append(make_row(4))
        history.append(make_row(5))
    one_line(lines, "locked by another process")
    with recording() as lines:
        history.flush()
    one_line(lines, "works again: 2 held rows written")
    assert len(stored_rows(path)) == 6 and len({r["id"] for r in stored_rows(path)}) == 6


def test_the_next_append_after_retry_after_writes_the_held_rows_in_order(tmp_path):
    path = tmp_path / "h.sqlite"
    history = History(path, busy_timeout=0.05, retry_after=0.0)
    history.append(make_row(0))
    with locked(path), recording() as lines:
        for i in (1, 2, 3):
            history.append(make_row(i))  # each retries (retry_after=0) and fails: still one line
    one_line(lines, "locked")
    with recording() as lines:
        history.append(make_row(4))
    one_line(lines, "works again: 3 held rows written")
    assert [r["prompt"] for r in stored_rows(path)] == [f"prompt {i}" for i in range(5)]
    assert history.unsaved == 0


def test_a_store_locked_before_it_was_opened_still_shows_this_sessions_rows(tmp_path):
    path = tmp_path / "h.sqlite"  # rollback-journal mode under an exclusive lock: reads are blocked too
    history = History(path)
    with locked(path, "new"), recording() as lines:
        started = time.monotonic()
        history.append(make_row(0))
        assert time.monotonic() - started < 1.5
        history.append(make_row(1))
        assert ids(history, all_sessions=True) == ids(history) and len(history) == 2
    one_line(lines, path, "locked")
    with recording() as lines:
        assert history.flush() is True
    one_line(lines, "works again: 2 held rows written")
    assert [r["prompt"] for r in stored_rows(path)] == ["prompt 0", "prompt 1"]


# -- read-only --------------------------------------------------------------------------------------------
def chattr(flag, *paths):
    if shutil.which("chattr") is None:
        pytest.skip("no chattr")
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr {flag} does not work here: {done.stderr.strip()}")


def test_immutable_directory_and_file_hold_rows_until_writable(tmp_path):
    folder = tmp_path / "store"
    path = folder / "h.sqlite"
    history = History(path, retry_after=0.0)
    history.append(make_row(0))
    history.close()  # no live connection: chattr on a file SQLite has mapped (-shm) would fault it
    before = path.read_bytes()
    chattr("+i", folder, path)
    try:
        with recording() as lines:
            history.append(make_row(1))
            history.append(make_row(2))
            df = history.to_dataframe(all_sessions=True)
        one_line(lines, path, "cannot write", "kept in memory", "if it becomes writable")
        held(history, "prompt 0", "prompt 1", "prompt 2")
        assert set(df["id"]) >= set(ids(history)[1:])  # the held rows, whatever the store gave back
        assert path.read_bytes() == before
    finally:
        chattr("-i", folder, path)
    with recording() as lines:
        assert history.flush() is True
    one_line(lines, "works again: 2 held rows written")
    assert [r["prompt"] for r in stored_rows(path)] == ["prompt 0", "prompt 1", "prompt 2"]


def test_a_directory_that_cannot_be_made_holds_rows_until_it_can(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the history directory should be")
    path = blocker / "h.sqlite"
    history = History(path, retry_after=0.0)
    with recording() as lines:
        history.append(make_row(0))
        history.append(make_row(1))
        assert ids(history, all_sessions=True) == ids(history)
    one_line(lines, path, "cannot write", f"{blocker} is a file, not a directory")
    held(history, "prompt 0", "prompt 1")
    blocker.unlink()
    with recording() as lines:
        history.append(make_row(2))
    one_line(lines, "works again: 2 held rows written")
    assert [r["prompt"] for r in stored_rows(path)] == ["prompt 0", "prompt 1", "prompt 2"]


# -- a child process: private filesystems (unshare), file-size limits, the real stderr --------------------
CHILD = textwrap.dedent("""
    import io, json, os, resource, signal, subprocess, sys, time
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past RLIMIT_FSIZE a write fails (EFBIG), not the process
    from cerebras_magic.core._store import History
    err = sys.stderr = io.StringIO()  # what a notebook would show under the cell
    history = None
    for line in sys.stdin:
        cmd, out, started = json.loads(line), {}, time.monotonic()
        op = cmd["op"]
        try:
            if op == "open":
                history = History(cmd["path"], **cmd.get("kw", {}))
            elif op == "append":
                history.append({"id": cmd["id"], "prompt": "x" * cmd.get("size", 10), "status": "ok"})
            elif op == "flush":
                out["flushed"] = history.flush()
            elif op == "close":
                history.close()
            elif op == "fsize":
                limit = resource.RLIM_INFINITY if cmd["limit"] is None else cmd["limit"]
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            elif op == "fill":  # write until the filesystem has no block left
                f = open(cmd["path"], "wb", buffering=0)
                try:
                    while True:
                        f.write(b"0" * 4096)
                except OSError as exc:
                    out["errno"] = exc.errno
                f.close()  # unbuffered: nothing left to flush into the full filesystem
            elif op == "rm":
                os.remove(cmd["path"])
            elif op == "run":
                out["rc"] = subprocess.run(cmd["argv"], capture_output=True).returncode
            elif op == "state":
                out["rows"] = [r["id"] for r in history.rows()]
                out["all"] = history.to_dataframe(all_sessions=True)["id"].tolist()
                out["unsaved"] = history.unsaved
        except BaseException as exc:
            out["raised"] = repr(exc)
        out["seconds"] = time.monotonic() - started
        out["stderr"] = err.getvalue()
        err.seek(0)
        err.truncate()
        print(json.dumps(out), flush=True)
    sys.stderr = sys.__stderr__  # the flush at exit prints here
""")


class Child:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def __call__(self, op, **kw):
        self.proc.stdin.write(json.dumps(dict(kw, op=op)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError(self.proc.stderr.read())
        out = json.loads(line)
        assert "raised" not in out, out  # a history problem never raises into the user's call
        return out

    def close(self) -> str:
        """End the child (its atexit runs); what it printed to the real stderr at exit."""
        self.proc.stdin.close()
        rest = self.proc.stderr.read()
        assert self.proc.wait(30) == 0, rest
        return rest


@contextlib.contextmanager
def child(argv=None):
    proc = Child(argv or [sys.executable, "-c", CHILD])
    try:
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()


@contextlib.contextmanager
def private_tmpfs(mount, size="256k"):
    """A child in its own user and mount namespace with a `size` tmpfs on `mount` (seen by it alone)."""
    mount.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    script = 'mount -t tmpfs -o size="$0" tmpfs "$1" && exec "$2" -c "$3"'
    with child(["unshare", "-Urm", "sh", "-c", script, size, str(mount), sys.executable, CHILD]) as proc:
        try:
            proc("run", argv=["true"])
        except EOFError as exc:
            pytest.skip(f"cannot mount a private tmpfs here: {str(exc).strip()}")
        yield proc


def stderr_line(out, *words):
    """What the process printed is exactly one line, no file:line prefix, no traceback."""
    lines = out["stderr"].splitlines()
    one_line(lines, *words)
    return lines[0]


def test_the_warning_is_one_clean_line_on_stderr_and_exit_writes_held_rows(tmp_path):
    path = tmp_path / "h.sqlite"
    with child() as proc:
        proc("open", path=str(path))
        proc("append", id="a")
        with locked(path):
            out = proc("append", id="b")
            line = stderr_line(out, path, "locked by another process")
            assert ".py:" not in line and "HistoryWarning" not in line
            assert out["seconds"] < 1.5
            assert proc("append", id="c")["stderr"] == ""
        assert proc("state")["unsaved"] == 2
        at_exit = proc.close()  # no call after the lock went: the exit flush writes the held rows
    one_line(at_exit.splitlines(), "works again: 2 held rows written")
    assert [r["id"] for r in stored_rows(path)] == ["a", "b", "c"]


def test_in_a_real_kernel_the_warning_is_one_line_of_stderr(tmp_path):
    from jupyter_client.manager import start_new_kernel

    blocker = tmp_path / "blocker"
    blocker.write_text("")
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    streams = []
    try:
        code = (f"from cerebras_magic.core._store import History\nh = History({str(blocker / 'h.sqlite')!r})\n"
                f"h.append({{'id': 'a'}})\nh.append({{'id': 'b'}})\nprint(len(h))")
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: streams.append(msg))
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = {name: "".join(m["content"]["text"] for m in streams
                          if m["msg_type"] == "stream" and m["content"]["name"] == name) for name in ("stdout", "stderr")}
    assert text["stdout"] == "2\n"
    line = one_line(text["stderr"].splitlines(), blocker, "cannot write")
    assert ".py:" not in line and "HistoryWarning" not in line


def test_read_only_filesystem_holds_rows_until_it_is_writable_again(tmp_path):
    mount = tmp_path / "mnt"
    path = mount / "h.sqlite"
    with private_tmpfs(mount) as proc:
        proc("open", path=str(path), kw={"retry_after": 0})
        proc("append", id="a")
        proc("close")  # remount,ro is refused while a file is open for writing
        assert proc("run", argv=["mount", "-o", "remount,ro", str(mount)])["rc"] == 0
        out = proc("append", id="b")
        stderr_line(out, path, "cannot write", "if it becomes writable")
        assert proc("append", id="c")["stderr"] == ""
        state = proc("state")
        assert state["rows"] == ["a", "b", "c"] and state["unsaved"] == 2 and set(state["all"]) >= {"b", "c"}
        assert proc("run", argv=["mount", "-o", "remount,rw", str(mount)])["rc"] == 0
        out = proc("flush")
        assert out["flushed"] is True
        stderr_line(out, "works again: 2 held rows written")
        state = proc("state")
        assert state["all"] == ["a", "b", "c"] and state["unsaved"] == 0


def test_full_filesystem_holds_rows_until_space_returns(tmp_path):
    mount = tmp_path / "mnt"
    path = mount / "h.sqlite"
    with private_tmpfs(mount) as proc:
        proc("open", path=str(path))
        proc("append", id="a")
        assert proc("fill", path=str(mount / "filler"))["errno"] == 28  # ENOSPC: not a block left
        outs = [proc("append", id=f"b{i}", size=20000) for i in range(3)]
        lines = "".join(o["stderr"] for o in outs).splitlines()
        one_line(lines, path, "no space left", "database or disk is full")
        state = proc("state")
        assert state["rows"] == ["a", "b0", "b1", "b2"] and state["unsaved"] == 3
        assert state["all"] == ["a", "b0", "b1", "b2"]
        proc("rm", path=str(mount / "filler"))
        out = proc("flush")
        assert out["flushed"] is True
        stderr_line(out, "works again: 3 held rows written")
        assert proc("state")["all"] == ["a", "b0", "b1", "b2"]


def test_file_size_limit_holds_rows_until_it_is_lifted(tmp_path):
    path = tmp_path / "h.sqlite"
    with child() as proc:
        proc("open", path=str(path))
        proc("append", id="a")
        proc("fsize", limit=64 * 1024)  # the WAL cannot grow past 64 KiB: writes fail with EFBIG
        outs = [proc("append", id=f"b{i}", size=20000) for i in range(6)]
        lines = "".join(o["stderr"] for o in outs).splitlines()
        one_line(lines, path, "disk I/O error", "file-size limit")
        state = proc("state")
        assert state["rows"] == ["a"] + [f"b{i}" for i in range(6)] and state["unsaved"] >= 1
        assert state["all"] == state["rows"]
        proc("fsize", limit=None)
        out = proc("flush")
        assert out["flushed"] is True
        stderr_line(out, f"works again: {state['unsaved']} held row")
        assert proc("state")["all"] == state["rows"]
    assert [r["id"] for r in stored_rows(path)] == state["rows"]


# -- corrupt ----------------------------------------------------------------------------------------------
def recovered(path):
    return sorted(path.parent.glob(f"{path.stem}.recovered-*{path.suffix}"))


def test_garbage_file_is_left_untouched_and_a_recovered_store_takes_the_calls(tmp_path):
    path = tmp_path / "h.sqlite"
    garbage = b"this is not a database" * 100
    path.write_bytes(garbage)
    history = History(path)
    with recording() as lines:
        history.append(make_row(0))
        history.append(make_row(1))
        df = history.to_dataframe(all_sessions=True)
    [new] = recovered(path)
    one_line(lines, path, "not a usable SQLite database", "file is not a database", "left untouched",
             f"calls go to {new}")
    assert path.read_bytes() == garbage
    assert history.path == new and df["prompt"].tolist() == ["prompt 0", "prompt 1"]
    assert [r["prompt"] for r in stored_rows(new)] == ["prompt 0", "prompt 1"]

    later = History(path)  # the next session finds the recovered store, and the last one's rows
    with recording() as lines:
        later.append(make_row(2))
    one_line(lines, path, f"calls go to {new}")
    assert recovered(path) == [new] and path.read_bytes() == garbage
    assert later.to_dataframe(all_sessions=True)["prompt"].tolist() == ["prompt 0", "prompt 1", "prompt 2"]


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_database_is_left_untouched_and_a_recovered_store_takes_the_calls(tmp_path, keep):
    path = tmp_path / "h.sqlite"
    old = History(path, session_id="old")
    for i in range(300):
        old.append(make_row(i, response="an answer " * 50))
    old.close()  # the last connection checkpoints the WAL into the file
    data = path.read_bytes()
    assert len(data) > 100_000 and not (tmp_path / "h.sqlite-wal").exists()
    path.write_bytes(data[:int(len(data) * keep)])
    truncated = path.read_bytes()
    history = History(path)
    with recording() as lines:
        history.append(make_row(1000))
        history.append(make_row(1001))
        df = history.to_dataframe(all_sessions=True)
    [new] = recovered(path)
    one_line(lines, path, "not a usable SQLite database", "left untouched", str(new))
    assert path.read_bytes() == truncated
    assert df["prompt"].tolist() == ["prompt 1000", "prompt 1001"]
    assert [r["prompt"] for r in stored_rows(new)] == ["prompt 1000", "prompt 1001"]


def test_corrupt_file_whose_recovered_store_cannot_be_made_keeps_rows_in_memory(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "h.sqlite"
    path.write_bytes(b"\x00garbage" * 64)
    history = History(path)
    chattr("+i", folder)
    try:
        with recording() as lines:
            history.append(make_row(0))
            history.append(make_row(1))
            assert ids(history, all_sessions=True) == ids(history)
        one_line(lines, path, "left untouched", "could not be used either", "kept in memory")
        held(history, "prompt 0", "prompt 1")
        assert sorted(p.name for p in folder.iterdir()) == ["h.sqlite"]
    finally:
        chattr("-i", folder)
    with recording() as lines:
        assert history.flush() is True
    [new] = recovered(path)
    one_line(lines, f"{new} works again: 2 held rows written")
    assert [r["prompt"] for r in stored_rows(new)] == ["prompt 0", "prompt 1"]


# -- hygiene ----------------------------------------------------------------------------------------------
def test_the_key_never_appears_in_a_warning(tmp_path, monkeypatch):
    key = "csk-abcdefghijklmnopqrstuvwxyz123456"
    monkeypatch.setenv("CEREBRAS_API_KEY", key)
    blocker = tmp_path / key  # absurd, but a path is the one thing the line prints verbatim
    blocker.write_text("")
    history = History(blocker / "h.sqlite")
    with recording() as lines:
        history.append(make_row(0))
    line = one_line(lines, "cannot write")
    assert key not in line and "/***/h.sqlite" in line
    kind, cause = faults.diagnose(sqlite3.OperationalError(f"database is locked by {key}"))
    assert kind == "locked" and key not in cause


def test_warnings_can_be_silenced_or_raised_like_any_other(tmp_path):
    blocker = tmp_path / "x"
    blocker.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HistoryWarning)
        history = History(blocker / "h.sqlite")
        history.append(make_row(0))  # nothing said, nothing raised
    assert len(history) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", HistoryWarning)
        with pytest.raises(HistoryWarning, match="cannot write"):
            History(blocker / "h.sqlite").append(make_row(0))


def test_memory_only_history_never_warns(tmp_path):
    with recording() as lines:
        history = History(None)
        history.append(make_row(0))
        assert history.flush() is True and len(history.to_dataframe(all_sessions=True)) == 1
    assert lines == [] and os.listdir(tmp_path) == []
