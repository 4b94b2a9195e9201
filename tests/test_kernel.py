"""Through a real ipykernel: the messages a front end receives, and a kernel interrupt mid-stream."""
import os
import sqlite3
import time

import pytest
from jupyter_client.manager import start_new_kernel


@pytest.fixture
def kernel(fake_server_paced, tmp_path):
    env = {**os.environ, "CEREBRAS_API_KEY": "test-key", "CEREBRAS_BASE_URL": fake_server_paced.base_url,
           "CEREBRAS_MAGIC_HISTORY": str(tmp_path / "h.sqlite")}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        yield km, kc, tmp_path / "h.sqlite"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc, code, timeout=30, on_output=None):
    """Run code; return (reply content, iopub messages of this execution)."""
    msg_id = kc.execute(code)
    msgs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if on_output:
            on_output(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"], msgs


def test_stream_in_a_real_kernel_and_interrupt(kernel):
    km, kc, hist = kernel
    reply, _ = execute(kc, "%load_ext cerebras_magic")
    assert reply["status"] == "ok"
    reply, msgs = execute(kc, "%%cerebras --max-tokens 40\nHello kernel")
    kinds = [m["msg_type"] for m in msgs]
    assert reply["status"] == "ok" and "update_display_data" in kinds
    final = [m for m in msgs if m["msg_type"] == "display_data"][-1]["content"]["data"]
    assert "tok/s" in final["text/plain"] and "text/html" in final
    assert "execute_result" not in kinds  # the Result is returned (so `_` works) but not shown twice

    seen = []

    def interrupt_when_streaming(msg):
        if msg["msg_type"] == "update_display_data" and not seen:
            seen.append(msg)
            km.interrupt_kernel()

    reply, msgs = execute(kc, "%%cerebras -m llama-3.3-70b --min-tokens 20000 --max-tokens 20000\nA long story", timeout=60,
                          on_output=interrupt_when_streaming)
    assert seen and reply["status"] == "ok"  # the interrupt ends the stream, not the cell
    final = [m for m in msgs if m["msg_type"] == "display_data"][-1]["content"]["data"]["text/plain"]
    assert "Interrupted: partial answer kept." in final and "⏹" not in final
    reply, msgs = execute(kc, "print(_.status, len(_.text) > 0, _.completion_tokens < 20000)")
    assert "interrupted True True" in "".join(m["content"].get("text", "") for m in msgs)
    rows = sqlite3.connect(hist).execute("select status from history order by rowid").fetchall()
    assert [r[0] for r in rows] == ["ok", "interrupted"]
