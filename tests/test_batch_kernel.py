"""A batch in a real ipykernel (whose event loop is already running): the bar and summary a front end
receives, a kernel interrupt that keeps the finished rows, and a background batch that leaves the kernel free."""
import os
import time

import pytest
from jupyter_client.manager import start_new_kernel

from test_kernel import execute


@pytest.fixture
def kernel(tmp_path):
    from cerebras_magic.testing import FakeServer
    with FakeServer(api_key="test-key", tokens_per_second=1000, ttft=0.05) as srv:
        env = {**os.environ, "CEREBRAS_API_KEY": "test-key", "CEREBRAS_BASE_URL": srv.base_url,
               "CEREBRAS_MAGIC_HISTORY": str(tmp_path / "h.sqlite")}
        km, kc = start_new_kernel(kernel_name="python3", env=env)
        try:
            reply, _ = execute(kc, "import cerebras_magic as cm\n%load_ext cerebras_magic\n"
                                   "rows = [f'row {i}' for i in range(200)]")
            assert reply["status"] == "ok"
            yield km, kc
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def _text(msgs) -> str:
    return "".join(m["content"].get("text", "") + m["content"].get("data", {}).get("text/plain", "") for m in msgs)


def test_batch_in_a_kernel_shows_the_bar_then_the_summary(kernel):
    km, kc = kernel
    reply, msgs = execute(kc, "out = cm.batch(rows[:30], 'Label: {}', max_tokens=10, concurrency=8, name='k1')\n"
                              "print(out.status.value_counts().to_dict())")
    assert reply["status"] == "ok", reply
    kinds = [m["msg_type"] for m in msgs]
    assert "display_data" in kinds and "error" not in kinds
    final = [m for m in msgs if m["msg_type"] == "display_data"][-1]["content"]["data"]
    assert "k1 30/30" in final["text/plain"] and "k1: 30 rows in" in final["text/plain"]
    assert "cm-batch" in final["text/html"] and "{'ok': 30}" in _text(msgs)


def test_an_interrupt_keeps_the_finished_rows(kernel):
    km, kc = kernel
    seen = []

    def interrupt_after_progress(msg):
        if msg["msg_type"] == "update_display_data" and "ok" in msg["content"]["data"].get("text/plain", "") \
                and not seen:
            seen.append(msg)
            time.sleep(0.3)
            km.interrupt_kernel()

    reply, msgs = execute(kc, "out = cm.batch(rows, 'Label: {}', max_tokens=20, concurrency=4, name='k2')",
                          timeout=60, on_output=interrupt_after_progress)
    assert seen and reply["status"] == "ok"  # the interrupt stops the batch, not the cell
    assert "stopped: run the same batch again" in _text(msgs)
    reply, msgs = execute(kc, "c = out.status.value_counts().to_dict(); print(len(out), c.get('ok', 0) > 0, "
                              "c.get('not_sent', 0) > 0)")
    assert "200 True True" in _text(msgs)


def test_background_batch_leaves_the_kernel_free(kernel):
    km, kc = kernel
    reply, _ = execute(kc, "job = cm.batch(rows, 'Label: {}', max_tokens=20, concurrency=4, background=True)")
    assert reply["status"] == "ok"
    t0 = time.monotonic()
    reply, msgs = execute(kc, "print('free', job.done(), job.progress.done < 200)")
    assert reply["status"] == "ok" and "free False True" in _text(msgs) and time.monotonic() - t0 < 2
    reply, msgs = execute(kc, "out = job.result(timeout=60); print((out.status == 'ok').sum())", timeout=90)
    assert "200" in _text(msgs)
