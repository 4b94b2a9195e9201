"""`%%cerebras --panel` in a real Notebook 7 (headless Chromium, a paced FakeServer in this process): the
panel's "Write back to the cell" rewrites the cell's first line and body through the front end, and re-running
the rewritten cell sends the panel's settings. The JupyterLab 4 twin is in test_browser_explore.py.

The screenshot goes to a temporary directory (docs/ with CM_SCREENSHOTS=1)."""
import os
import pathlib

import pytest

from tests.conftest import app_on_fake_server, notebook_page

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = "panel.ipynb"
PANEL_CELL = "%%cerebras --panel -m llama-3.3-70b -t 0.5 --max-tokens 20 -o p\nWrite a tagline for {shop}."
CELLS = ['shop = "a coffee shop"', "%load_ext cerebras_magic", PANEL_CELL]
PANEL = len(CELLS) - 1  # the panel cell's index

# the notebook open in Notebook 7 (its shell's current widget is the NotebookPanel, as in JupyterLab)
NB = "window.jupyterapp.shell.currentWidget"
CELL_SOURCE = f"(i) => {NB}.content.widgets[i].model.sharedModel.getSource()"
CELL_EXEC_COUNT = f"(i) => {NB}.content.widgets[i].model.executionCount"


def _write_notebook(path: pathlib.Path) -> None:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def shot(tmp_path, name: str) -> pathlib.Path:
    return (ROOT / "docs" if os.environ.get("CM_SCREENSHOTS") else tmp_path) / f"{name}.png"


def _completions(fake) -> list:
    return [r.json for r in fake.requests if r.path.endswith("/completions")]


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    pytest.importorskip("notebook", minversion="7")
    tmp = tmp_path_factory.mktemp("explore_nb7")
    _write_notebook(tmp / NOTEBOOK)
    with app_on_fake_server(tmp, "notebook", tokens_per_second=600, ttft=0.05) as lab:
        yield lab


@pytest.fixture(scope="module")
def page(browser, notebook7):
    url = f"{notebook7['url']}/notebooks/{NOTEBOOK}"
    with notebook_page(browser, url, notebook7, (".cm-pg[data-status='ok']",), name="notebook7") as p:
        assert p.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"  # Notebook 7, not JupyterLab
        yield p


def test_notebook7_panel_writes_back_the_cell_and_reruns_it(page, notebook7, tmp_path):
    fake = notebook7["fake"]
    panel = page.locator(".cm-pg")
    assert panel.locator(".cm-pg-prompt").input_value() == "Write a tagline for {shop}."
    assert panel.locator(".cm-pg-max-tokens").input_value() == "20"
    assert page.evaluate(CELL_SOURCE, PANEL) == PANEL_CELL
    assert _completions(fake)[-1]["max_completion_tokens"] == 20

    box = panel.locator(".cm-pg-max-tokens")
    box.fill("25")
    box.dispatch_event("change")
    write = panel.locator(".cm-pg-write-back")
    assert write.is_visible()
    write.click()
    page.wait_for_function(f"() => ({CELL_SOURCE})({PANEL}).includes('--max-tokens 25')", timeout=10_000)
    assert "Written back" in panel.locator(".cm-pg-copy-note").inner_text()
    source = page.evaluate(CELL_SOURCE, PANEL)
    first, body = source.split("\n", 1)
    assert first.startswith("%%cerebras ") and "--panel" in first and "-o p" in first and "-t 0.5" in first
    assert "-m llama-3.3-70b" in first and "--max-tokens 20" not in first
    assert "--no-interpolate" not in first and body == "Write a tagline for {shop}."
    # the editor shows what the model holds (the change went through CodeMirror, like typing)
    editor = page.locator(".jp-Notebook .jp-Cell").nth(PANEL).locator(".jp-InputArea-editor .cm-content")
    assert editor.inner_text().startswith(first)
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(shot(tmp_path, "explore-panel-notebook7")))

    # re-running the rewritten cell sends the panel's settings
    n = len(fake.requests)
    count = page.evaluate(CELL_EXEC_COUNT, PANEL)
    page.evaluate(f"(i) => {{ {NB}.content.activeCellIndex = i; "
                  "return window.jupyterapp.commands.execute('notebook:run-cell'); }", PANEL)
    page.wait_for_function(f"([i, c]) => ({CELL_EXEC_COUNT})(i) > c", arg=[PANEL, count], timeout=30_000)
    page.wait_for_selector(".cm-pg[data-status='ok']", timeout=30_000)
    rerun = [r.json for r in fake.requests[n:] if r.path.endswith("/completions")]
    assert len(rerun) == 1, rerun
    assert rerun[0]["max_completion_tokens"] == 25 and rerun[0]["temperature"] == 0.5
    assert rerun[0]["model"] == "llama-3.3-70b"
    assert rerun[0]["messages"][-1]["content"] == "Write a tagline for a coffee shop."
    assert page.evaluate(CELL_SOURCE, PANEL) == source  # running the cell leaves it as written back
