"""The heat-map in a real JupyterLab 4 (headless Chromium): the hover popup is not clipped by the output
area and moves nothing, least-likely links scroll to and highlight their own token (JupyterLab keeps the URL,
so `:target` never matches there), the dark theme keeps the legend readable, and an untrusted notebook (the
sanitizer drops <style>, tabindex and ids) still shows tints and scrolls.

The notebooks hold saved outputs (trusted with `jupyter trust`, as a notebook you ran yourself); no kernel
is needed to render them. Screenshots go to a temporary directory (docs/ with CM_SCREENSHOTS=1)."""
import itertools
import subprocess
import sys

import pytest

from cerebras_magic.display import _cell
from cerebras_magic.display import _heatmap as H
from tests.conftest import jupyter_lab, lab_env
from tests.test_heatmap_browser import popup_box, shot_path, words
from tests.test_heatmap_html import contrast

TRUSTED, UNTRUSTED = "heatmap.ipynb", "untrusted.ipynb"


class Answer:
    def __init__(self, entries):
        self.token_logprobs, self.reasoning_logprobs = entries, []


def _notebook(path, outputs):
    import nbformat
    nb = nbformat.v4.new_notebook()
    for i, page in enumerate(outputs):
        cell = nbformat.v4.new_code_cell(f"# answer {i}")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": page, "text/plain": "heat-map"})]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("heatmap_lab")
    saved = H._ids
    try:  # two kernels' first answers: the old ids (cm-lp0-<position>) collided across them
        H._ids = itertools.count()
        long_view = _cell.logprobs_html(Answer(words(1500, dips=(1400, 1300, 1200, 1100, 1000))))
        H._ids = itertools.count()
        short_view = _cell.logprobs_html(Answer(words(1500, dips=(1410, 1310, 1210, 1110, 1010))[:1450]))
    finally:
        H._ids = saved
    _notebook(tmp / TRUSTED, [long_view, short_view, _cell.logprobs_html(Answer(words(50)))])
    _notebook(tmp / UNTRUSTED, [long_view])
    env = lab_env(tmp)
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(tmp / TRUSTED)], env=env, check=True, capture_output=True)
    with jupyter_lab(tmp, env) as url:
        yield {"url": url, "tmp": tmp}


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def _open(page, lab, name=TRUSTED):
    page.goto(f"{lab['url']}/lab/tree/{name}?reset")  # reset: no other notebook restored in the page
    page.wait_for_selector(".jp-OutputArea-output .cm-lp .cm-t")
    assert page.locator(".jp-NotebookPanel").count() == 1
    page.wait_for_timeout(300)  # the notebook settles its scroll position


def _scroller(page):
    return page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer")


def test_hover_popup_is_not_clipped_by_the_output_area_and_moves_nothing(page, lab, tmp_path):
    _open(page, lab)
    out = page.locator(".jp-OutputArea-output").nth(2)
    out.scroll_into_view_if_needed()
    token = out.locator(".cm-t").last
    token.scroll_into_view_if_needed()
    before = out.bounding_box()
    token.hover()
    ident = token.evaluate("e => { e.id = e.id || 'probe-last'; return e.id; }")
    box, o = popup_box(page, f"#{ident}"), out.bounding_box()
    page.screenshot(path=str(shot_path(tmp_path, "lab-hover")))
    assert box is not None, "no popup on hover"
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook").bounding_box()
    assert notebook["x"] <= box[0] and box[2] <= notebook["x"] + notebook["width"]
    assert notebook["y"] <= box[1] and box[3] <= notebook["y"] + notebook["height"], (box, notebook)
    assert box[3] - box[1] > 50  # all its lines (4 here)
    below = o["y"] + o["height"]
    assert box[3] > below + 20  # it reaches past the output area (which scrolls its overflow) ...
    clip = {"x": box[0], "y": below + 2, "width": box[2] - box[0], "height": box[3] - below - 4}
    drawn = page.screenshot(clip=clip)
    page.mouse.move(5, 5)
    assert page.screenshot(clip=clip) != drawn  # ... and is painted there, not clipped
    token.hover()
    assert o == before and out.evaluate("e => e.scrollHeight <= e.clientHeight + 1")  # no growth, no scrollbar
    token.focus()
    assert out.bounding_box() == before


def test_least_likely_link_scrolls_to_and_highlights_its_own_token(page, lab, tmp_path):
    _open(page, lab)
    second = page.locator(".jp-OutputArea-output").nth(1)
    link = second.locator(".cm-lp-low a").first
    link.scroll_into_view_if_needed()
    ident = link.get_attribute("href")[1:]
    assert page.locator(f"#{ident}").count() == 1  # unique in the page although a counter restarted
    token = second.locator(f"#{ident}")
    view = _scroller(page).bounding_box()
    assert token.bounding_box()["y"] > view["y"] + view["height"]  # far below, before the click
    link.click()
    page.wait_for_timeout(300)
    t = token.bounding_box()
    assert view["y"] <= t["y"] and t["y"] + t["height"] <= view["y"] + view["height"], (t, view)
    assert token.evaluate("e => getComputedStyle(e).outlineColor") == "rgb(197, 34, 31)"
    assert popup_box(page, f"#{ident}") is not None  # its alternatives are shown too
    assert "#" not in page.url  # JupyterLab kept the URL: the highlight came from the link's focus
    page.screenshot(path=str(shot_path(tmp_path, "lab-link")))


def _background(locator):
    return locator.evaluate("""e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
        if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; }""")


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_legend_summary_and_axes_readable_in_the_theme(page, lab, tmp_path, theme):
    _open(page, lab)
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
    light = "true" if theme.endswith("Light") else "false"
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(500)
    summary = page.locator(".cm-lp-sum").first
    bg = _background(summary)
    for chip in summary.locator(".cm-lp-key").all():
        fg, chip_bg = chip.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        assert contrast(fg, chip_bg, bg) >= 4.5, (theme, fg, chip_bg)
    assert contrast(summary.evaluate("e => getComputedStyle(e).color"), bg) >= 4.5
    spark = page.locator(".cm-lp-spark").first
    spark_bg = spark.evaluate("e => getComputedStyle(e).backgroundColor")
    fill = spark.locator("text").first.evaluate("e => getComputedStyle(e).fill")
    assert contrast(fill, spark_bg, bg) >= 4.5, (theme, fill, spark_bg)
    page.locator(".cm-lp").first.screenshot(path=str(shot_path(tmp_path, f"lab-{theme.split()[1].lower()}")))


def test_an_untrusted_notebook_keeps_tints_and_links(page, lab):
    _open(page, lab, UNTRUSTED)
    out = page.locator(".jp-OutputArea-output").first
    assert out.locator("style").count() == 0  # the sanitizer's doing
    assert out.locator(".cm-t").first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert out.locator(".cm-t[title]").count() == out.locator(".cm-t").count()
    link = out.locator(".cm-lp-low a").first
    ident = link.get_attribute("href")[1:]
    token = out.locator(f'[data-jupyter-id="{ident}"]')
    link.click()
    page.wait_for_timeout(300)
    view, t = _scroller(page).bounding_box(), token.bounding_box()  # no stylesheet: it may wrap onto two lines
    assert view["y"] < t["y"] + t["height"] and t["y"] < view["y"] + view["height"], (t, view)
