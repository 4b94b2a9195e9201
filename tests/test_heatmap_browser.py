"""The heat-map in headless Chromium, in a plain page (saved notebook, nbconvert HTML, the playground's
innerHTML): the popup on hover, where it lands, a box that keeps its size, least-likely links, dark theme.

The popup is a ::after pseudo-element, which no page API measures: its box comes from the DevTools protocol.
Screenshots go to a temporary directory (docs/ with CM_SCREENSHOTS=1)."""
import math
import os
import pathlib

import pytest

from cerebras_magic.display import _heatmap as H
from tests.test_heatmap_html import contrast, theme_vars

ROOT = pathlib.Path(__file__).resolve().parents[1]


def words(n, dips=()):
    """n tokens of probability 0.2 to 0.95; the least likely (p = 0.01..) at `dips` when given."""
    probs = {d: 0.01 * (k + 1) for k, d in enumerate(dips)}
    return [{"token": f" w{i}", "logprob": math.log(probs.get(i, 0.2 + 0.75 * (i * 7919 % 101) / 100)),
             "top": [(f" w{i}", -0.1), (" x", -2.3), (" y", -3.0)]} for i in range(n)]


def doc(body: str, head: str = "") -> str:
    return f"<!doctype html><meta charset=utf-8><style>body{{margin:16px}}{head}</style><body>{body}</body>"


def shot_path(tmp_path, name: str) -> pathlib.Path:
    return ROOT / "docs" / f"heatmap-{name}.png" if os.environ.get("CM_SCREENSHOTS") else tmp_path / f"{name}.png"


def popup_box(page, selector: str):
    """The viewport box (x0, y0, x1, y1) of the element's ::after, or None when it has none."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        nid = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        for ps in cdp.send("DOM.describeNode", {"nodeId": nid, "depth": 1})["node"].get("pseudoElements", []):
            if ps.get("pseudoType") == "after":
                q = cdp.send("DOM.getBoxModel", {"nodeId": ps["nodeId"]})["model"]["border"]
                return min(q[0::2]), min(q[1::2]), max(q[0::2]), max(q[1::2])
        return None
    finally:
        cdp.detach()


def mark(page, selector: str) -> str:
    page.evaluate("(s) => document.querySelector(s).setAttribute('data-probe', '1')", selector)
    return "[data-probe='1']"


def inside(box, width, height) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 900, "height": 600})
    yield p
    p.close()


def test_hover_shows_the_popup_at_once_below_the_token_in_view(page, tmp_path):
    page.set_content(doc(H.heatmap_html(words(120))))
    token = page.locator(".cm-t").nth(30)
    sel = mark(page, ".cm-t:nth-child(31)")
    assert popup_box(page, sel) is None
    token.hover()  # no wait: the popup is CSS, there is no tooltip delay
    box, t = popup_box(page, sel), token.bounding_box()
    assert box is not None, "no popup on hover"
    page.screenshot(path=str(shot_path(tmp_path, "hover")))
    assert inside(box, 900, 600), box
    assert box[2] - box[0] > 100 and box[3] - box[1] > 40  # all four lines drawn, not clipped
    assert t["y"] + t["height"] <= box[1] <= t["y"] + t["height"] + 8 and abs(box[0] - t["x"]) < 2
    text = page.evaluate("(s) => getComputedStyle(document.querySelector(s), '::after').content", sel)
    assert "p=" in text and "✓ ␣w30" in text
    assert token.get_attribute("title").startswith("␣w30  p=")  # screen readers and no-CSS views keep it


def test_the_popup_flips_above_a_token_at_the_bottom_of_the_view(page, tmp_path):
    page.set_content(doc(H.heatmap_html(words(400))))
    last = page.locator(".cm-t").last
    sel = mark(page, ".cm-t:last-child")
    last.scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    last.hover()
    box, t = popup_box(page, sel), last.bounding_box()
    page.screenshot(path=str(shot_path(tmp_path, "flip")))
    assert box is not None and inside(box, 900, 600), box
    assert box[3] <= t["y"] + 1, (box, t)  # above the token: no room below it


def test_focus_keeps_the_box_size_and_the_next_click_lands(page):
    page.set_content(doc(H.heatmap_html(words(200)) + '<button id="below">below</button>'))
    page.evaluate("() => { window.clicks = 0; document.getElementById('below').onclick = () => window.clicks++; }")
    box = page.locator(".cm-lp-box")
    before = box.bounding_box()
    target = page.locator("#below").bounding_box()
    page.locator(".cm-t").nth(150).focus()
    assert page.evaluate("document.activeElement.classList.contains('cm-t')")
    assert box.bounding_box() == before
    page.mouse.click(target["x"] + 5, target["y"] + 5)
    assert page.evaluate("window.clicks") == 1
    page.keyboard.press("Tab")  # keyboard: tab moves to the next token, the box still the same
    assert box.bounding_box() == before


@pytest.mark.parametrize("how", ["page", "innerHTML"])
def test_least_likely_link_scrolls_to_and_highlights_its_token(page, tmp_path, how):
    view = H.heatmap_html(words(3000, dips=(2900, 2400, 2500, 2600, 2700)))
    if how == "page":
        page.set_content(doc(view))
    else:  # the playground panel's way
        page.set_content(doc('<div id="panel"></div>'))
        page.evaluate("(h) => { document.getElementById('panel').innerHTML = h; }", view)
    link = page.locator(".cm-lp-low a").nth(2)
    ident = link.get_attribute("href")[1:]
    token = page.locator(f"#{ident}")
    assert token.bounding_box()["y"] > 600  # off-screen before the click
    link.click()
    t = token.bounding_box()
    assert 0 <= t["y"] and t["y"] + t["height"] <= 600
    assert token.evaluate("e => getComputedStyle(e).outlineColor") == "rgb(197, 34, 31)"
    box = popup_box(page, f"#{ident}")
    assert box is not None and inside(box, 900, 600)
    page.screenshot(path=str(shot_path(tmp_path, f"link-{how}")))


def test_hovering_a_link_highlights_its_token_without_navigating(page):
    page.set_content(doc(H.heatmap_html(words(60))))
    link = page.locator(".cm-lp-low a").first
    token = page.locator(link.get_attribute("href"))
    assert token.evaluate("e => getComputedStyle(e).outlineStyle") == "none"
    link.hover()
    assert token.evaluate("e => getComputedStyle(e).outlineColor") == "rgb(197, 34, 31)"
    assert page.evaluate("location.hash") == ""


@pytest.mark.parametrize("theme", ["theme-light-extension", "theme-dark-extension"])
def test_contrast_with_the_jupyterlab_theme_variables_set(page, tmp_path, theme):
    env = theme_vars(theme)
    root = ":root{" + ";".join(f"{k}:{v}" for k, v in env.items()) + "}"
    page.set_content(doc(H.heatmap_html(words(80)), root + "body{background:var(--jp-layout-color0);color:var(--jp-ui-font-color1)}"))
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    for chip in page.locator(".cm-lp-key").all():
        fg, chip_bg = chip.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        assert contrast(fg, chip_bg, bg) >= 4.5, (theme, fg, chip_bg)
    summary = page.locator(".cm-lp-sum").evaluate("e => getComputedStyle(e).color")
    assert contrast(summary, bg) >= 4.5, (theme, summary, bg)
    spark_bg = page.locator(".cm-lp-spark").evaluate("e => getComputedStyle(e).backgroundColor")
    for fill in set(page.locator(".cm-lp-spark text").evaluate_all("es => es.map(e => getComputedStyle(e).fill)")):
        assert contrast(fill, spark_bg, bg) >= 4.5, (theme, fill, spark_bg)
    box = page.locator(".cm-lp-box").evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert contrast(*box, bg) >= 4.5
    page.screenshot(path=str(shot_path(tmp_path, f"theme-{theme.split('-')[1]}")), full_page=True)
