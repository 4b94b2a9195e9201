"""The full %%cerebras path in an InteractiveShell vs the bare client, and the cost of %load_ext.

Display messages are captured as a kernel would send them; bytes are what the front end would receive.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

from .stream import ServerProcess, floor


def _shell(base_url: str):
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Capture(DisplayPublisher):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.messages = []

        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            self.messages.append((time.perf_counter(), len(json.dumps(data)), bool(data.get("text/plain"))))

    sh = InteractiveShell.instance()
    sh.display_pub = Capture(shell=sh)
    sh.displayhook.write_output_prompt = lambda: None  # no "Out[n]:" noise in the report
    os.environ["CEREBRAS_API_KEY"] = "bench-key"
    os.environ["CEREBRAS_MAGIC_HISTORY"] = ""
    if "cerebras_magic" not in sh.extension_manager.loaded:  # one shell serves every table of a run
        sh.run_line_magic("load_ext", "cerebras_magic")
    sh.run_line_magic("config", f"Cerebras.base_url = {base_url!r}")
    return sh


@contextlib.contextmanager
def _last_stream():
    """The last stream the magic opened, for its first-body-byte time (the bench's view, not the API's)."""
    from cerebras_magic.api import _streaming as streaming
    last, init = [], streaming._StreamBase.__init__

    def tracked(self, *args, **kw):
        init(self, *args, **kw)
        last[:] = [self]
    streaming._StreamBase.__init__ = tracked
    try:
        yield last
    finally:
        streaming._StreamBase.__init__ = init


def measure(n: int = 20000, repeats: int = 5) -> dict:
    from cerebras_magic import Client
    with ServerProcess() as srv, _last_stream() as streams:
        sh = _shell(srv.base_url)
        cell = f"%%cerebras --min-tokens {n} --max-tokens {n}\nfirehose"
        client = Client(api_key="bench-key", base_url=srv.base_url)
        t_floor, t_client, t_magic, msgs, sizes, ttfv = [], [], [], [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            floor(srv.base_url, "bench-key", n)
            t_floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            stream = client.chat("firehose", stream=True, max_completion_tokens=n, min_completion_tokens=n)
            for _ in stream:
                pass
            t_client.append(time.perf_counter() - t0)
            pub = sh.display_pub
            pub.messages.clear()
            t0 = time.perf_counter()
            res = sh.run_cell(cell)
            t_magic.append(time.perf_counter() - t0)
            assert res.result.completion_tokens == n, res.result
            msgs.append(len(pub.messages))
            sizes.append(sum(s for _, s, _ in pub.messages))
            # first body byte -> the first display message with text
            first_text = next((t for t, _, has_text in pub.messages if has_text), float("nan"))
            ttfv.append((first_text - streams[-1].first_byte_at) * 1000)
        best = {k: n / min(v) for k, v in (("floor", t_floor), ("client", t_client), ("magic", t_magic))}
        # the run closest to the display-message goal (1 + 30 per second of that run's cell)
        worst = max(range(repeats), key=lambda i: msgs[i] / (1 + 30 * t_magic[i]))
        return {"n": n, "repeats": repeats, **best, "messages": msgs[worst], "bytes": max(sizes),
                "stream_seconds": t_magic[worst], "ttfv_ms": statistics.median(ttfv),
                "within_goal": sum(m <= 1 + 30 * t for m, t in zip(msgs, t_magic))}


def load_ext_cost(repeats: int = 7) -> dict:
    """Wall time of `%load_ext cerebras_magic` in a fresh process, after IPython itself is imported."""
    code = ("import time, IPython\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "sh = InteractiveShell.instance()\nt = time.perf_counter()\nsh.run_line_magic('load_ext', 'cerebras_magic')\n"
            "dt = time.perf_counter() - t\nimport sys\n"
            "heavy = [m for m in ('httpx', 'pydantic', 'pandas', 'ipywidgets', 'anywidget', 'llama_cpp') if m in sys.modules]\n"
            "print(dt, ','.join(heavy))")
    times, heavy = [], ""
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]) * 1000)
        heavy = out[1] if len(out) > 1 else ""
    return {"median_ms": statistics.median(times), "min_ms": min(times), "heavy_modules_loaded": heavy or "none"}


def load_ext_imports() -> tuple:
    """`-X importtime` of what `%load_ext` imports beyond IPython: total ms and the largest modules."""
    code = ("import sys, IPython\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "sh = InteractiveShell.instance()\nprint('--load_ext--', file=sys.stderr, flush=True)\n"
            "sh.run_line_magic('load_ext', 'cerebras_magic')")
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         check=True).stderr
    rows = []  # (module, self microseconds): lines read "import time: <self> | <cumulative> | <module>"
    for line in err.split("--load_ext--", 1)[1].splitlines():
        fields = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and fields[0].strip().isdigit():
            rows.append((fields[2].strip(), int(fields[0])))
    top = sorted(rows, key=lambda r: -r[1])[:3]
    return sum(us for _, us in rows) / 1000, len(rows), ", ".join(f"{m} {us / 1000:.1f} ms" for m, us in top)


def report(n: int = 20000, repeats: int = 5) -> str:
    m = measure(n, repeats)
    rate = m["messages"] / m["stream_seconds"]
    lines = [f"%%cerebras end to end, {n:,}-token firehose (fake server in its own process), best of {repeats}",
             f"{'path':40} {'chunks/s':>12} {'x floor':>8}",
             f"{'floor: httpx iter_lines + json.loads':40} {m['floor']:12,.0f} {1:8.2f}",
             f"{'bare Client stream':40} {m['client']:12,.0f} {m['client'] / m['floor']:8.2f}",
             f"{'%%cerebras cell (render + history)':40} {m['magic']:12,.0f} {m['magic'] / m['floor']:8.2f}",
             f"magic vs bare client: {m['magic'] / m['client']:.2f}x",
             f"display messages, worst run: {m['messages']} over {m['stream_seconds']:.3f} s ({rate:.1f}/s; goal "
             f"<= {1 + 30 * m['stream_seconds']:.2f}); within the goal in {m['within_goal']} of {repeats} runs",
             f"bytes to the front end (largest run): {m['bytes']:,}",
             f"first visible token (first body byte -> first display message, with text): {m['ttfv_ms']:.2f} ms"]
    lc = load_ext_cost()
    lines.append(f"%load_ext cerebras_magic over bare IPython: median {lc['median_ms']:.1f} ms (min {lc['min_ms']:.1f}); "
                 f"heavy modules loaded: {lc['heavy_modules_loaded']}")
    total, count, top = load_ext_imports()
    lines.append(f"  -X importtime: {count} modules imported by %load_ext, {total:.1f} ms in all; largest: {top}")
    return "\n".join(lines)
