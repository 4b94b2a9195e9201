"""Front-end cost in a real JupyterLab (headless Chromium): a 3-model grid at 3,000 tok/s each (2,000 tokens a
column) and a single 20,000-token cell, with the fake server paced in its own process.

For each run: kernel-to-browser WebSocket messages per second and bytes while the cell runs, the browser main
thread's busy share over the same window (CDP Performance.getMetrics TaskDuration, and the Long Tasks the
page saw), and how long after the last token the final view was in the page (the kernel's epoch time of the
last chunk, against the page's epoch time when the final element appeared and a frame was painted).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TPS = 3000
CASES = {
    "3-model grid, 2,000 tokens each": ("%%cerebras -m llama-3.3-70b,gpt-oss-120b,qwen-3.8-27b --max-tokens 2000 "
                                        "--min-tokens 2000 --reasoning-effort none -o out\nExplain a B-tree.",
                                        ".cm-grid-final", 2000),
    "single cell, 20,000 tokens": ("%%cerebras -m llama-3.3-70b --max-tokens 20000 --min-tokens 20000 -o out\n"
                                   "Write a long story.", ".cm-out", 20000),
}
LAST_TOKEN = ("import time as _t\n_rs = list(out) if hasattr(out, 'results') else [out]\n"
              "print(_t.time() - (_t.perf_counter() - max(r.t_done for r in _rs)))")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WATCH = """(sel) => { window.__cm = {final: null, painted: null, long: 0};
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__cm.long += e.duration; })
    .observe({type: 'longtask'});
  const before = document.querySelectorAll(sel).length;
  const mo = new MutationObserver(() => {
    if (window.__cm.final === null && document.querySelectorAll(sel).length > before) {
      window.__cm.final = Date.now();
      requestAnimationFrame(() => setTimeout(() => { window.__cm.painted = Date.now(); }, 0));
      mo.disconnect();
    }});
  mo.observe(document.body, {childList: true, subtree: true}); }"""
RUN_CELL = """(i) => { const nb = window.jupyterapp.shell.currentWidget; nb.content.activeCellIndex = i;
  window.jupyterapp.commands.execute('notebook:run-cell'); return true; }"""  # not awaited: runs while we sample
IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }"""


def _notebook(path: Path, cells: list) -> None:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metric(cdp, name: str) -> float:
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == name)


def _run_case(page, cdp, frames, index: int, selector: str) -> dict:
    page.evaluate(WATCH, selector)
    frames.clear()
    t0, busy0 = time.time(), _metric(cdp, "TaskDuration")
    page.evaluate(RUN_CELL, index)
    samples = [(t0, busy0)]
    while not page.evaluate("() => window.__cm.painted !== null"):  # main-thread time, sampled as it runs
        samples.append((time.time(), _metric(cdp, "TaskDuration")))
        time.sleep(0.1)
    busy1, t1 = _metric(cdp, "TaskDuration"), time.time()
    seen = page.evaluate("() => window.__cm")
    page.wait_for_function(IDLE, timeout=60_000)
    page.evaluate(RUN_CELL, index + 1)  # the kernel says when the last token came
    page.wait_for_function("(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs.length > 0",
                           arg=index + 1, timeout=30_000)
    page.wait_for_function(IDLE, timeout=60_000)
    last = float(page.evaluate(f"() => window.jupyterapp.shell.currentWidget.content.widgets[{index + 1}]"
                               ".model.outputs.get(0).toJSON().text").strip().splitlines()[-1])
    inside = [(t, n) for t, n in frames if t <= seen["final"] / 1000]
    during = [(t, b) for t, b in samples if t <= last - 0.05]  # the stream itself, before the final render
    stream_busy = (during[-1][1] - during[0][1]) / (during[-1][0] - during[0][0]) if len(during) > 2 else float("nan")
    span = seen["final"] / 1000 - t0
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")  # a light page
    page.wait_for_timeout(300)
    return {"messages_per_s": len(inside) / span, "kib": sum(n for _, n in inside) / 1024, "seconds": span,
            "busy": (busy1 - busy0) / (t1 - t0), "stream_busy": stream_busy, "long_ms": seen["long"],
            "final_ms": seen["painted"] - last * 1000}


def measure(repeats: int = 3) -> dict:
    from playwright.sync_api import sync_playwright
    srv = subprocess.Popen([sys.executable, "-m", "cerebras_magic.testing", "--key", "bench-key", "--tps", str(TPS),
                            "--ttft", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = srv.stdout.readline().strip()
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cells = ["%load_ext cerebras_magic"]
        for code, _, _ in CASES.values():
            cells += [code, LAST_TOKEN]
        _notebook(tmp / "bench.ipynb", cells)
        for name in ("home", "config", "runtime", "workspaces", "settings"):
            (tmp / name).mkdir()
        env = dict(os.environ, CEREBRAS_API_KEY="bench-key", CEREBRAS_BASE_URL=base,
                   CEREBRAS_MAGIC_HISTORY=str(tmp / "h.sqlite"), HOME=str(tmp / "home"),
                   JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
                   JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
                   IPYTHONDIR=str(tmp / "ipython"))
        port = _free_port()
        lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                                "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
                                f"--ServerApp.port={port}", f"--ServerApp.root_dir={tmp}", "--LabApp.news_url=None",
                                "--LabApp.expose_app_in_browser=True"], env=env, cwd=tmp,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{port}/api/status")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                frames: list = []
                page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(
                    (time.time(), len(data)))))
                page.goto(f"http://127.0.0.1:{port}/lab/tree/bench.ipynb?reset")
                page.wait_for_function(IDLE, timeout=90_000)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.evaluate(RUN_CELL, 0)
                page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets[0].model"
                                       ".executionCount !== null", timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                for k, (name, (_, selector, _)) in enumerate(CASES.items()):
                    runs = [_run_case(page, cdp, frames, 1 + 2 * k, selector) for _ in range(repeats)]
                    out[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                browser.close()
        finally:
            lab.terminate()
            lab.wait(20)
            srv.terminate()
            srv.wait(10)
    return out


def _wait(url: str, timeout: float = 60) -> None:
    import httpx
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer {url}")


def report(repeats: int = 3) -> str:
    rows = measure(repeats)
    lines = [f"Front-end cost in JupyterLab, headless Chromium, fake server at {TPS:,} tok/s a stream (own process), "
             f"median of {repeats}",
             "window = cell start -> final view in the page; busy = main-thread task time / wall time: over the",
             "stream (sampled every 0.1 s until the last token) and over the whole window (with the final render)",
             f"{'case':34} {'msgs/s':>7} {'KiB':>8} {'window s':>8} {'stream busy':>11} {'window busy':>11} "
             f"{'long tasks ms':>13} {'final ms':>9}"]
    for name, r in rows.items():
        lines.append(f"{name:34} {r['messages_per_s']:7.1f} {r['kib']:8.0f} {r['seconds']:8.2f} {r['stream_busy']:11.1%} "
                     f"{r['busy']:11.1%} {r['long_ms']:13.0f} {r['final_ms']:9.0f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(report(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
