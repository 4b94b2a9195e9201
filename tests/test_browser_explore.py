"""Explore in a real JupyterLab 4 (headless Chromium, a paced FakeServer in this process): a comma-list cell
streams side by side and ends as the static grid; `%%cerebras --panel` opens the cell in the panel, Run
re-runs it in place, and "Write back" rewrites the cell's first line and body through the front end; the
heat-map of a --logprobs cell forks on click and shows the branch beside the original.

Screenshots go to a temporary directory (docs/ with CM_SCREENSHOTS=1)."""
import os
import pathlib

import pytest

from tests.conftest import app_on_fake_server, notebook_page

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = "explore.ipynb"
CELLS = [
    "%load_ext cerebras_magic",
    "%%cerebras -m llama-3.3-70b,gpt-oss-120b,qwen-3.8-27b --max-tokens 60 --reasoning-effort none\nExplain a B-tree.",
    "%%cerebras --panel -m llama-3.3-70b -t 0.5 --max-tokens 20 -o p\nWrite a tagline for {shop}.",
    "%%cerebras -m llama-3.3-70b --logprobs 3 --max-tokens 30 --seed 3\nSay something about wafers.",
]


def _write_notebook(path: pathlib.Path) -> None:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('shop = "a coffee shop"')] + [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def shot(tmp_path, name: str) -> pathlib.Path:
    return (ROOT / "docs" if os.environ.get("CM_SCREENSHOTS") else tmp_path) / f"{name}.png"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explore_lab")
    _write_notebook(tmp / NOTEBOOK)
    with app_on_fake_server(tmp, tokens_per_second=600, ttft=0.05) as lab:
        yield lab


CELL_SOURCE = "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()"


@pytest.fixture(scope="module")
def page(browser, lab):
    ready = (".cm-grid-final", ".cm-pg[data-status='ok']", ".cm-fv .cm-fv-forkable")
    with notebook_page(browser, f"{lab['url']}/lab/tree/{NOTEBOOK}?reset", lab, ready, name="explore") as p:
        yield p


def test_grid_ends_as_static_columns(page, tmp_path):
    grid = page.locator(".cm-grid-final").first
    assert grid.locator(".cm-col").count() == 3
    heads = grid.locator(".cm-col-head").all_inner_texts()
    assert heads == ["llama-3.3-70b", "gpt-oss-120b", "qwen-3.8-27b"]
    assert all("tokens" in f and "tok/s" in f for f in grid.locator(".cm-col .cm-col-foot").all_inner_texts())
    boxes = [c.bounding_box() for c in grid.locator(".cm-col").all()]
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"] and boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]  # side by side
    assert page.locator(".cm-grid-final .cm-sum tbody tr").count() == 3
    assert page.locator(".cm-grid-final .cm-div").count() == 1
    grid.scroll_into_view_if_needed()
    page.screenshot(path=str(shot(tmp_path, "explore-grid")))


def test_panel_runs_in_place_and_writes_back_the_cell(page, lab, tmp_path):
    panel = page.locator(".cm-pg")
    assert panel.locator(".cm-pg-prompt").input_value() == "Write a tagline for {shop}."
    assert panel.locator(".cm-pg-max-tokens").input_value() == "20"
    sent = [r.json for r in lab["fake"].requests if r.path.endswith("/completions")]
    assert any(b["messages"][-1]["content"] == "Write a tagline for a coffee shop." for b in sent if "messages" in b)
    runs = panel.locator(".cm-pg-run-item").count()
    box = panel.locator(".cm-pg-max-tokens")
    box.fill("25")
    box.dispatch_event("change")
    panel.locator(".cm-pg-run").click()
    page.wait_for_function("(n) => document.querySelectorAll('.cm-pg .cm-pg-run-item').length > n "
                           "&& document.querySelector('.cm-pg').dataset.status === 'ok'", arg=runs)
    assert [r.json for r in lab["fake"].requests if r.path.endswith("/completions")][-1]["max_completion_tokens"] == 25
    write = panel.locator(".cm-pg-write-back")
    assert write.is_visible()
    write.click()
    page.wait_for_function(f"() => ({CELL_SOURCE})(3).includes('--max-tokens 25')")
    source = page.evaluate(CELL_SOURCE, 3)
    first, body = source.split("\n", 1)
    assert first.startswith("%%cerebras ") and "--panel" in first and "-o p" in first and "-t 0.5" in first
    assert "--no-interpolate" not in first and body == "Write a tagline for {shop}."
    assert "Written back" in panel.locator(".cm-pg-copy-note").inner_text()
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(shot(tmp_path, "explore-panel")))


def test_heatmap_alternative_forks_and_shows_the_branch(page, lab, tmp_path):
    view = page.locator(".cm-fv")
    token = view.locator(".cm-fv-forkable").nth(3)
    token.scroll_into_view_if_needed()
    token.click()
    menu = view.locator(".cm-fv-menu")
    assert menu.is_visible() and menu.locator(".cm-fv-alt").count() >= 1
    n = len(lab["fake"].requests)
    menu.locator(".cm-fv-alt").first.click()
    page.wait_for_selector(".cm-fv .cm-fv-branch .cm-grid-final", timeout=20_000)
    branch = view.locator(".cm-fv-branch")
    heads = branch.locator(".cm-col-head").all_inner_texts()
    assert heads[0] == "original" and heads[1].startswith("fork at #")
    assert branch.locator(".cm-div .cm-div-at").count() >= 1  # marked where it departs
    forked = [r.json for r in lab["fake"].requests[n:] if r.path.endswith("/completions")]
    assert len(forked) == 1 and forked[0]["prompt"].startswith("<|start_header_id|>user")  # Llama 3's template
    branch.scroll_into_view_if_needed()
    page.screenshot(path=str(shot(tmp_path, "explore-fork")))
