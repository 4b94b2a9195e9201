"""Logprobs view: HTML bytes per token at top-5, and the time headless Chromium takes to show 10,000 tokens."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from .stream import ServerProcess

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def entries(n: int, top: int = 5) -> list:
    from cerebras_magic import Client
    with ServerProcess() as srv:
        c = Client(api_key="bench-key", base_url=srv.base_url)
        out = []
        for chunk in c.chat("a long answer", stream=True, logprobs=True, top_logprobs=top,
                            min_completion_tokens=n, max_completion_tokens=n):
            lp = chunk.choices[0].logprobs if chunk.choices else None
            for t in (lp.content if lp and lp.content else []):
                out.append({"token": t.token, "logprob": t.logprob, "bytes": t.bytes,
                            "top": [(a.token, a.logprob) for a in t.top_logprobs or []]})
    return out


def measure(n: int = 10000, repeats: int = 5) -> dict:
    from playwright.sync_api import sync_playwright

    from cerebras_magic.display._heatmap import heatmap_html
    ents = entries(n)
    t0 = time.perf_counter()
    page_html = heatmap_html(ents, top=5)
    build_ms = (time.perf_counter() - t0) * 1000
    doc = "<!doctype html><meta charset=utf-8><body>" + page_html + "</body>"
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        path = Path(tmp) / "view.html"
        path.write_text(doc, encoding="utf-8")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        times = []
        for _ in range(repeats):
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto(path.as_uri())
            # parse + style + layout + one frame painted
            page.evaluate("() => new Promise(r => { document.body.offsetHeight; requestAnimationFrame(() => r()); })")
            times.append((time.perf_counter() - t0) * 1000)
            page.close()
        browser.close()
    return {"tokens": len(ents), "bytes": len(page_html.encode()), "bytes_per_token": len(page_html.encode()) / len(ents),
            "build_ms": build_ms, "render_ms": statistics.median(times), "render_min_ms": min(times)}


def report(n: int = 10000, repeats: int = 5) -> str:
    m = measure(n, repeats)
    return (f"Logprobs heat-map, {m['tokens']:,} tokens with top-5 alternatives\n"
            f"  HTML: {m['bytes']:,} bytes = {m['bytes_per_token']:.0f} bytes/token; built in {m['build_ms']:.0f} ms (Python)\n"
            f"  headless Chromium load + layout + first frame: median {m['render_ms']:.0f} ms (min {m['render_min_ms']:.0f}) "
            f"over {repeats} loads")
