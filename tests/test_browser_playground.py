"""`cm.Playground()` in a real JupyterLab, driven through headless Chromium like a user would drive it.

One JupyterLab server (a subprocess, isolated config/runtime/workspace dirs and HOME) talks to a paced
FakeServer in this process. The test runs the notebook cell, types into the panel, runs, stops mid-stream,
measures how often the panel's answer area is rewritten during a fast stream, checks that HTML typed as a
prompt stays text, and saves the screenshot docs/playground.png.
"""
import os
import pathlib
import re
import sqlite3
import time

import pytest

from tests.conftest import app_on_fake_server

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "playground.png"
NOTEBOOK = "playground.ipynb"
SLOW_TPS, FAST_TPS = 150, 3000  # the slow pace leaves time to click Stop; the fast one is Cerebras-like
LONG = 3000  # tokens of the long answer (min = max)
MAX_UPDATES_PER_S = 40


def _write_notebook(path: pathlib.Path) -> None:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import cerebras_magic as cm\np = cm.Playground()\np"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free loopback port, pointed at a paced FakeServer; always stopped by its PID."""
    tmp = tmp_path_factory.mktemp("playground_lab")
    _write_notebook(tmp / NOTEBOOK)
    with app_on_fake_server(tmp, tokens_per_second=SLOW_TPS, ttft=0.2) as lab:
        yield lab


# -- helpers -------------------------------------------------------------------------------------------
def _open_panel(page, lab):
    page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=30_000)
    kernel_idle = """() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
    }"""
    page.wait_for_function(kernel_idle, timeout=30_000)
    for attempt in range(2):
        if attempt == 0:  # like a user: click into the cell, Shift+Enter
            page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
            page.keyboard.press("Shift+Enter")
        else:  # the keystroke may have been lost while the notebook was still settling
            page.wait_for_function(kernel_idle, timeout=20_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            page.wait_for_selector(".cm-pg", timeout=15_000)
            break
        except Exception:
            if attempt:
                shot = lab["tmp"] / "no-panel.png"
                page.screenshot(path=str(shot))
                out = page.locator(".jp-OutputArea").all_inner_texts()
                raise AssertionError(f"the panel never rendered (screenshot {shot}); cell output: {out!r}; "
                                     f"server log:\n{lab['log'].read_text()[-3000:]}")
    panel = page.locator(".cm-pg")
    # the model list is loaded from the fake server in the background
    page.wait_for_function("document.querySelectorAll('.cm-pg-model option').length > 1", timeout=10_000)
    return panel


def _runs(panel) -> int:
    return panel.locator(".cm-pg-run-item").count()


def _wait_run_done(page, before: int, timeout: float = 20_000):
    page.wait_for_function(
        """(n) => document.querySelectorAll('.cm-pg .cm-pg-run-item').length > n
                 && document.querySelector('.cm-pg').dataset.status !== 'running'
                 && document.querySelector('.cm-pg-run').disabled === false""", arg=before, timeout=timeout)
    return page.locator(".cm-pg").get_attribute("data-status")


def _set(panel, cls: str, value: str):
    box = panel.locator(cls)
    box.fill(value)
    box.dispatch_event("change")


def _history_rows(path):
    con = sqlite3.connect(str(path))
    try:
        return con.execute("SELECT source, status, response FROM history").fetchall()
    finally:
        con.close()


COUNT_MUTATIONS = """() => {
    const pre = document.querySelector('.cm-pg .cm-pg-answer');
    window.__cmTimes = [];
    window.__cmObs && window.__cmObs.disconnect();
    window.__cmObs = new MutationObserver((records) => {
        const t = performance.now();
        for (const r of records) if (r.type === 'childList' && r.addedNodes.length) window.__cmTimes.push(t);
    });
    window.__cmObs.observe(pre, {childList: true, characterData: true, subtree: true});
}"""


# -- the test ------------------------------------------------------------------------------------------
def test_playground_in_jupyterlab(browser, lab):
    started = time.monotonic()
    fake = lab["fake"]
    context = browser.new_context(viewport={"width": 1200, "height": 1500})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab["url"])
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        panel = _open_panel(page, lab)
        assert panel.locator(".cm-pg-run").is_enabled() and panel.locator(".cm-pg-stop-btn").is_disabled()
        for control in panel.locator("input, select, textarea").all():  # every control has a label
            cid = control.get_attribute("id")
            assert cid and panel.locator(f'label[for="{cid}"]').count() == 1, cid

        # keys typed in the panel stay there: JupyterLab's Shift+Enter must not re-run the cell (replacing
        # the panel), nor "a"/"b" on a focused checkbox insert cells
        page.evaluate("document.querySelector('.cm-pg').dataset.marker = 'kept'")
        cells = page.locator(".jp-Cell").count()
        panel.locator(".cm-pg-prompt").press("Shift+Enter")
        panel.locator(".cm-pg-chat-mode").press("a")
        panel.locator(".cm-pg-chat-mode").press("b")
        page.wait_for_timeout(300)
        assert page.locator(".jp-Cell").count() == cells and panel.get_attribute("data-marker") == "kept"

        # 1. a short run, typed and clicked like a user
        panel.locator(".cm-pg-prompt").fill("Say hello to the playground")
        _set(panel, ".cm-pg-max-tokens", "40")
        n = _runs(panel)
        panel.locator(".cm-pg-run").click()
        assert _wait_run_done(page, n) == "ok"
        short = panel.locator(".cm-pg-answer").inner_text()
        assert len(short) > 20
        stats = panel.locator(".cm-pg-stats").inner_text()
        assert "tok/s" in stats and "TTFT" in stats and "finish: length" in stats, stats
        assert "--max-tokens 40" in panel.locator(".cm-pg-cell").input_value()

        # 2. a long answer at Cerebras speed: how often does the panel rewrite the answer area?
        fake.tokens_per_second = FAST_TPS
        _set(panel, ".cm-pg-min-tokens", str(LONG))
        _set(panel, ".cm-pg-max-tokens", str(LONG))
        page.evaluate(COUNT_MUTATIONS)
        n = _runs(panel)
        panel.locator(".cm-pg-run").click()
        assert _wait_run_done(page, n) == "ok"
        full = panel.locator(".cm-pg-answer").inner_text()
        times = page.evaluate("window.__cmTimes")
        updates = int(panel.get_attribute("data-updates"))
        span_s = (times[-1] - times[0]) / 1000 if len(times) > 1 else 0.0
        rate = (len(times) - 1) / span_s if span_s > 0 else float("inf")
        tokens = int(re.search(r"([\d,]+) tok\b", panel.locator(".cm-pg-run-item").first.inner_text())[1].replace(",", ""))
        print(f"\nplayground update rate: {rate:.1f} answer rewrites/s over {span_s:.2f} s "
              f"({len(times)} DOM rewrites, updates trait = {updates}, {tokens} tokens at {FAST_TPS} tok/s)")
        assert tokens == LONG and len(full) > 5 * len(short)
        assert 3 <= len(times) and rate <= MAX_UPDATES_PER_S, (rate, len(times))
        assert updates <= len(times) + 1, (updates, len(times))

        # 3. the same long answer at a slow pace, with logprobs, stopped mid-stream
        fake.tokens_per_second = SLOW_TPS
        panel.locator(".cm-pg-logprobs").check()
        _set(panel, ".cm-pg-top-k", "3")
        n = _runs(panel)
        panel.locator(".cm-pg-run").click()
        page.wait_for_selector('.cm-pg[data-status="running"]')
        page.wait_for_function("document.querySelector('.cm-pg-answer').textContent.length > 400")
        assert panel.locator(".cm-pg-run").is_disabled() and panel.locator(".cm-pg-stop-btn").is_enabled()
        assert "running" in panel.locator(".cm-pg-stats").inner_text()
        t0 = time.monotonic()
        panel.locator(".cm-pg-stop-btn").click()
        page.wait_for_selector('.cm-pg[data-status="interrupted"]', timeout=2_000)
        stop_s = time.monotonic() - t0
        assert _wait_run_done(page, n, timeout=2_000) == "interrupted"
        partial = panel.locator(".cm-pg-answer").inner_text()
        assert 0 < len(partial) < len(full) and full.startswith(partial.rstrip())
        newest = panel.locator(".cm-pg-run-item").first
        assert newest.get_attribute("data-status") == "interrupted" and "interrupted" in newest.inner_text()
        assert panel.locator(".cm-pg-logprobs-view .cm-t").count() > 10  # the heat-map of the partial answer
        assert ("widget", "interrupted") in {(s, st) for s, st, _ in _history_rows(lab["history"])}
        print(f"playground stop: interrupted {stop_s * 1000:.0f} ms after the click, "
              f"{len(partial)} of {len(full)} characters kept")

        # 4. the screenshot for the README (the stopped run, its heat-map, the runs list, the cell): taken
        # every run (so taking it is tested), written to docs/ only when asked (CM_SCREENSHOTS=1)
        panel.scroll_into_view_if_needed()
        shot_path = SCREENSHOT if os.environ.get("CM_SCREENSHOTS") else lab["tmp"] / "playground.png"
        shot_path.parent.mkdir(exist_ok=True)
        panel.screenshot(path=str(shot_path), animations="disabled")
        assert shot_path.stat().st_size > 10_000

        # 5. copy as %%cerebras cell: the clipboard gets it, the read-only box shows it
        panel.locator(".cm-pg-copy").click()
        cell = panel.locator(".cm-pg-cell").input_value()
        assert cell.startswith("%%cerebras") and f"--min-tokens {LONG}" in cell and "--logprobs 3" in cell
        page.wait_for_function("document.querySelector('.cm-pg-copy-note').textContent !== ''")
        assert "Copied" in panel.locator(".cm-pg-copy-note").inner_text()
        assert page.evaluate("navigator.clipboard.readText()") == cell
        # without a clipboard (no secure context) the text is shown selected instead
        page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
        panel.locator(".cm-pg-copy").click()
        page.wait_for_function("document.querySelector('.cm-pg-copy-note').textContent.includes('unavailable')")
        assert page.evaluate("""() => { const t = document.querySelector('.cm-pg-cell');
            return document.activeElement === t && t.selectionStart === 0 && t.selectionEnd === t.value.length; }""")

        # 6. restore: clicking the first run puts its settings back
        panel.locator(".cm-pg-run-item").last.click()
        page.wait_for_function("document.querySelector('.cm-pg-max-tokens').value === '40'")
        assert panel.locator(".cm-pg-prompt").input_value() == "Say hello to the playground"

        # 6b. fork: a token of the heat-map, one of its alternatives, and the branch is the next run (on a
        # model whose chat template is known: the fake server's default, gpt-oss, says it cannot fork)
        panel.locator(".cm-pg-model").select_option("llama-3.3-70b")
        panel.locator(".cm-pg-logprobs").check()
        _set(panel, ".cm-pg-top-k", "3")
        n = _runs(panel)
        panel.locator(".cm-pg-run").click()
        assert _wait_run_done(page, n) == "ok"
        page.wait_for_function("Number(document.querySelector('.cm-pg-logprobs-view').dataset.forkable) > 3")
        original = panel.locator(".cm-pg-answer").inner_text()
        panel.locator(".cm-pg-logprobs-view .cm-pg-forkable").nth(3).click()
        menu = panel.locator(".cm-pg-fork-menu")
        assert menu.is_visible() and menu.locator(".cm-pg-fork-head").inner_text().startswith("fork at #")
        n = _runs(panel)
        menu.locator(".cm-pg-fork-alt").first.click()
        try:
            assert _wait_run_done(page, n) == "ok" and menu.is_hidden()
        except Exception:
            raise AssertionError(f"the fork did not end: {panel.locator('.cm-pg-error').inner_text()!r}") from None
        assert panel.locator(".cm-pg-run-item").first.inner_text().count("fork at #") == 1
        assert panel.locator(".cm-pg-answer").inner_text() != original
        fork_rows = [r for r in _history_rows(lab["history"]) if r[0] == "widget"]
        assert fork_rows  # the branch is a widget row too (its parent_id is checked in test_widget.py)
        panel.locator(".cm-pg-logprobs").uncheck()

        # 7. HTML typed as a prompt stays text everywhere (chat, no echo); Ctrl+Enter runs, Escape stops
        evil = "<img src=x onerror=window.__pwned=1>"
        panel.locator(".cm-pg-chat-mode").check()  # the prompt then also shows in the conversation
        panel.locator(".cm-pg-prompt").fill("")
        panel.locator(".cm-pg-prompt").press_sequentially(evil)
        _set(panel, ".cm-pg-max-tokens", "20")
        n = _runs(panel)
        panel.locator(".cm-pg-prompt").press("Control+Enter")
        assert _wait_run_done(page, n) == "ok"
        assert page.evaluate("window.__pwned") is None
        assert panel.locator(".cm-pg img").count() == 0
        assert evil not in panel.locator(".cm-pg-answer").inner_text()  # no echo: the answer is the model's
        assert panel.locator(".cm-pg-conv .cm-pg-content").first.inner_text() == evil
        assert evil in panel.locator(".cm-pg-run-item").first.inner_text()
        assert evil in panel.locator(".cm-pg-cell").input_value()

        _set(panel, ".cm-pg-min-tokens", str(LONG))
        _set(panel, ".cm-pg-max-tokens", str(LONG))
        n = _runs(panel)
        panel.locator(".cm-pg-prompt").press("Control+Enter")
        page.wait_for_selector('.cm-pg[data-status="running"]')
        page.wait_for_function("document.querySelector('.cm-pg-answer').textContent.length > 50")
        panel.locator(".cm-pg-prompt").press("Escape")
        assert _wait_run_done(page, n, timeout=3_000) == "interrupted"
        assert page.evaluate("window.__pwned") is None
        assert not errors, errors
    finally:
        context.close()
    elapsed = time.monotonic() - started
    print(f"playground browser test: {elapsed:.1f} s in the browser")
