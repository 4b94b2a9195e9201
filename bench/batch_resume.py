"""Resume after kill -9: a named batch in its own process is killed with SIGKILL at ~50%, then the same batch
runs again; the fake server counts what the rerun sends. Only the rows without a result may be sent."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from .batch import KEY, MODEL, server

SCRIPT = """
import sys
import cerebras_magic as cm
from cerebras_magic.core import Session
url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = Session(history_path=path, base_url=url, api_key="{key}", model="{model}")
out = cm.batch([f"row {{i}}" for i in range(n)], "Label: {{}}", max_tokens=50, concurrency=64, name="kill9",
               session=s, progress=False)
print("sent", out.attrs["batch"]["sent"], "resumed", out.attrs["batch"]["resumed"], "ok", (out.status == "ok").sum())
"""


def _ok(path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return db.execute("select count(*) from history where batch = 'kill9' and status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def measure(rows: int = 2000) -> dict:
    path = os.path.join(tempfile.mkdtemp(prefix="cm-bench-"), "h.sqlite")
    script = SCRIPT.format(key=KEY, model=MODEL)
    with server("--tps", "2000", "--ttft", "0.1") as url:
        proc = subprocess.Popen([sys.executable, "-c", script, url, path, str(rows)], stdout=subprocess.PIPE, text=True)
        while _ok(path) < rows // 2 and proc.poll() is None:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        before = _ok(path)
        with sqlite3.connect(path) as db:
            all_rows = db.execute("select count(*) from history where batch = 'kill9'").fetchone()[0]
        t0 = time.perf_counter()
        again = subprocess.run([sys.executable, "-c", script, url, path, str(rows)], capture_output=True, text=True)
        wall = time.perf_counter() - t0
    words = again.stdout.split()
    sent, resumed, ok = int(words[1]), int(words[3]), int(words[5])
    return {"rows": rows, "ok_before": before, "rows_before": all_rows, "sent": sent, "resumed": resumed, "ok": ok,
            "unfinished": rows - before, "wall": wall}


def report(rows: int = 2000) -> str:
    m = measure(rows)
    extra = m["sent"] - m["unfinished"]
    return "\n".join([
        f"Resume after kill -9: {rows:,} rows, concurrency 64, paced server; SIGKILL once {rows // 2:,} rows were done",
        f"  at the kill: {m['ok_before']:,} ok rows in the history ({m['rows_before']:,} rows in all: a call killed "
        f"mid-flight leaves none)",
        f"  rerun: {m['resumed']:,} rows from the history, {m['sent']:,} sent (unfinished: {m['unfinished']:,}; "
        f"re-sent rows that had finished: {extra}); {m['ok']:,}/{rows:,} ok in {m['wall']:.1f} s (process start included)"])
