"""The heat-map's HTML and CSS, checked without a browser: popups on hover that move nothing, least-likely
links with unique ids and a highlight that needs no fragment, contrast in JupyterLab's light and dark themes
(computed from the theme files installed), the sparkline's axes, the one-line summary and the reasoning."""
import html as htmlmod
import itertools
import math
import pathlib
import re
import sys

import pytest

from cerebras_magic.display import _cell
from cerebras_magic.display import _heatmap as H


def e(token, p, top=None):
    lp = math.log(p)
    return {"token": token, "logprob": lp, "top": top if top is not None else [(token, lp), ("x", math.log(0.01))]}


def words(n, dip=None):
    return [e(f" w{i}", 0.02 if i == dip else 0.6 + 0.35 * math.sin(i)) for i in range(n)]


# ---------------------------------------------------------------------------------------------- helpers
def css_rules(css: str):
    """(selector, declarations) of every rule, those inside @supports blocks included."""
    css = re.sub(r"@supports[^{]*\{((?:[^{}]*\{[^{}]*\})*)\}", r"\1", css)
    return [(sel.strip(), body) for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)]


def theme_vars(name: str) -> dict:
    """The CSS variables of an installed JupyterLab theme (theme-light-extension, theme-dark-extension)."""
    root = pathlib.Path(sys.prefix, "share", "jupyter", "lab", "themes", "@jupyterlab", name, "index.css")
    if not root.exists():
        pytest.skip(f"JupyterLab theme not installed: {root}")
    return dict(re.findall(r"(--[\w-]+):([^;}]+)", root.read_text()))


def resolve(value: str, env: dict) -> str:
    """Substitute var(--x, fallback) from env, as a browser would."""
    for _ in range(10):
        m = re.search(r"var\((--[\w-]+)(?:,((?:[^()]|\([^()]*\))*))?\)", value)
        if not m:
            return value.strip()
        value = value[:m.start()] + (env.get(m[1]) or m[2] or "") + value[m.end():]
    return value.strip()


def rgba(color: str):
    color = color.strip()
    if color.startswith("#"):
        h = color[1:]
        h = "".join(c * 2 for c in h) if len(h) in (3, 4) else h
        vals = [int(h[i:i + 2], 16) for i in range(0, len(h), 2)]
        return (*vals[:3], vals[3] / 255 if len(vals) > 3 else 1.0)
    named = {"white": (255, 255, 255, 1.0), "black": (0, 0, 0, 1.0), "transparent": (0, 0, 0, 0.0)}
    if color in named:
        return named[color]
    nums = [float(x) for x in re.findall(r"[\d.]+", color)]
    return (*nums[:3], nums[3] if len(nums) > 3 else 1.0)


def over(fg, bg):
    a = fg[3]
    return tuple(fg[i] * a + bg[i] * (1 - a) for i in range(3)) + (1.0,)


def contrast(fg: str, bg: str, page: str = "#ffffff") -> float:
    """WCAG contrast ratio of fg over bg (both composited over the page colour)."""
    b = over(rgba(bg), rgba(page))
    f = over(rgba(fg), b)

    def lum(c):
        ch = [v / 255 for v in c[:3]]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]
    hi, lo = sorted((lum(f), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def declarations(body: str) -> dict:
    return dict((k.strip(), v.strip()) for k, v in (d.split(":", 1) for d in body.split(";") if ":" in d))


# ---------------------------------------------------------------------------------------------- 1, 2: popup
def test_hover_shows_the_title_as_an_in_page_popup_and_keeps_title_and_tab_stops():
    page = H.heatmap_html(words(20))
    shown = [sel for sel, body in css_rules(H.STYLE) if "content:attr(title)" in body]
    assert shown and any(":hover" in s and "::after" in s for s in shown), shown  # hover, not only focus
    assert any(":focus" in s for s in shown)
    tokens = re.findall(r"<i class=\"cm-t[^>]*>", page)
    assert len(tokens) == 20 and all('tabindex="0"' in t and ' title="' in t for t in tokens)


def test_focus_changes_no_layout_and_the_popup_overlays():
    for sel, body in css_rules(H.STYLE):
        if ":focus" in sel or ":hover" in sel or ":target" in sel:
            assert not re.search(r"(^|;)(padding|margin|height|min-height|border)(-[a-z]+)?:", body) or "::after" in sel, sel
    overlay = [declarations(b) for s, b in css_rules(H.STYLE) if s.endswith("::after") and "position-anchor" in b]
    assert overlay and overlay[0]["position"] == "fixed" and "flip-block" in overlay[0]["position-try-fallbacks"]
    assert "@supports not (position-area:bottom)" in H.STYLE  # elsewhere: absolute below the token, still no reflow


# ---------------------------------------------------------------------------------------------- 3: links
def test_least_likely_links_point_at_unique_ids_and_are_highlighted_without_the_fragment():
    entries = words(60)
    page = H.heatmap_html(entries)
    hrefs = re.findall(r'<a class="cm-l\d+" href="#([\w-]+)"', page)
    assert len(hrefs) == 5
    for k, ident in enumerate(hrefs, 1):
        assert len(re.findall(f'id="{ident}"', page)) == 1
        assert re.search(f'<i class="cm-t cm-lo{k}" id="{ident}"', page)
        # JupyterLab keeps the URL: the link's own hover/focus highlights the k-th token (and :target in a page)
        assert re.search(f'<a class="cm-l{k}" href="#{ident}"', page)
        assert f".cm-lp:has(.cm-l{k}:is(:hover,:focus)) .cm-lo{k}" in H.STYLE
    assert any(":target" in s and "outline" in b for s, b in css_rules(H.STYLE))
    # a new kernel restarts the counter: another answer still gets other ids (JupyterLab searches the whole page,
    # every notebook open), while the same answer run again gets the same page (nbval compares outputs)
    saved = H._ids
    try:
        H._ids = itertools.count()
        first = H.heatmap_html(entries)
        H._ids = itertools.count()
        other = H.heatmap_html(words(60, dip=3))
        H._ids = itertools.count()
        again = H.heatmap_html(entries)
    finally:
        H._ids = saved
    ids = set(re.findall(r' id="([\w-]+)"', first))
    assert ids and not ids & set(re.findall(r' id="([\w-]+)"', other)) and first == again


def test_link_titles_say_where_the_token_is():
    page = H.heatmap_html([e("The", .9), e(" sky", .9), e(" is", .9), e(" green", .05), e(".", .9)])
    title = htmlmod.unescape(re.search(r'<a class="cm-l1" href="#[\w-]+" title="([^"]*)"', page)[1])
    assert title == "…The sky is[ green].…"


# ---------------------------------------------------------------------------------------------- 4: themes
@pytest.mark.parametrize("theme", ["theme-light-extension", "theme-dark-extension"])
def test_legend_summary_and_axis_text_contrast_in_both_jupyterlab_themes(theme):
    env = theme_vars(theme)
    page_bg = resolve("var(--jp-layout-color0)", env)
    page = H.heatmap_html(words(40))
    chips = re.findall(r'<span class="cm-lp-key" style="([^"]*)">', page)
    assert len(chips) == 5
    rules = {s: declarations(b) for s, b in css_rules(H.STYLE)}
    for chip in chips:
        d = declarations(chip)
        ratio = contrast(d["color"], d["background"], page_bg)
        assert ratio >= 4.5, (theme, chip, ratio)
    summary_fg = resolve(rules[".cm-lp-sum"]["color"], env)
    assert contrast(summary_fg, page_bg) >= 4.5, (theme, summary_fg, page_bg)
    spark_bg = resolve(rules[".cm-lp-spark"]["background"], env)
    axis_fg = resolve(rules[".cm-lp-spark text"]["fill"], env)
    assert contrast(axis_fg, spark_bg, page_bg) >= 4.5, (theme, axis_fg, spark_bg)
    line = resolve(rules[".cm-lp-spark polyline"]["stroke"], env)
    assert contrast(line, spark_bg, page_bg) >= 3.0, (theme, line, spark_bg)  # a graphic: 3:1
    box = re.search(r'<div class="cm-lp-box" style="([^"]*)"', page)[1]
    for tint in {H.tint(v / 10) for v in range(11)}:  # every token tint under the box's text colour
        assert contrast(declarations(box)["color"], tint) >= 4.5, tint


def test_tints_and_text_colours_survive_jupyterlabs_sanitizer():
    """Untrusted outputs lose <style>: the sanitizer keeps hex colours only, so tints and the light box's dark
    text are inline hex."""
    page = H.heatmap_html(words(10))
    assert "hsl(" not in page
    assert all(re.fullmatch(r"#[0-9a-f]{6}", H.tint(v / 7)) for v in range(8))
    assert re.search(r'class="cm-lp-box" style="background:#fff;color:#1a1a1a"', page)


# ---------------------------------------------------------------------------------------------- 5: sparkline
def test_sparkline_has_labelled_axes_and_keeps_a_single_dip():
    from cerebras_magic.display._tokens import pieces
    n, dip = 10_000, 4321
    svg = H.sparkline(pieces(words(n, dip=dip)))
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert {"0", "0.5", "1"} <= set(labels) and "token" in labels
    xticks = [int(t.replace(",", "")) for t in labels if re.fullmatch(r"[\d,]+", t) and t not in ("0", "1")]
    assert len(xticks) >= 3 and xticks == sorted(xticks) and xticks[-1] <= n - 1
    pts = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]*)"', svg)[1].split()]
    assert len(pts) <= 300
    lowest = max(pts, key=lambda xy: xy[1])  # the largest y is the lowest probability
    width = int(re.search(r'width="(\d+)"', svg)[1])
    assert lowest[1] > 45 and abs(lowest[0] - (34 + (width - 44) * dip / (n - 1))) < 1
    assert len(svg) < 12_000


# ---------------------------------------------------------------------------------------------- 6: terminal
def test_summary_text_is_one_inert_line_covering_the_reasoning():
    evil = [e("a\nb", .5), e("\x1b[31m", .01), e("\u2028x\x85\u202e", .02), e("\r\t", .03)]
    line = H.summary_text(evil)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert "\x85" not in line and "\u202e" not in line and len(line.splitlines()) == 1
    assert line.startswith("tokens: 4 tokens · mean logprob") and "least likely: #1 \\x1b[31m 1.0%" in line
    both = H.summary_text(words(8), reasoning=evil)
    assert both.count("│") == 1 and "tokens: 8 tokens" in both and "reasoning tokens: 4 tokens" in both
    assert len(both.splitlines()) == 1
    assert H.summary_text([]) == "tokens: no logprobs"
    long = H.summary_text([e("x" * 200, .1)])
    assert len(long) < 120


# ---------------------------------------------------------------------------------------------- 7: reasoning
class R:
    def __init__(self, answer, reasoning):
        self.token_logprobs, self.reasoning_logprobs = answer, reasoning


def test_reasoning_tokens_get_their_own_collapsed_section_and_summary():
    answer, thinking = words(12), [e(" hmm", .01)] + words(30)
    page = _cell.logprobs_html(R(answer, thinking))
    head, _, section = page.partition('<details class="cm-lp-section">')
    assert "answer tokens: 12 tokens" in head and "hmm" not in head  # the answer's summary: answer tokens only
    assert re.match(r"<summary>reasoning tokens: 31 tokens · mean logprob -[\d.]+ · perplexity [\d.]+</summary>", section)
    assert "reasoning tokens: 31 tokens" in section and "␣hmm" in section and "<details open" not in page
    assert _cell.logprobs_html(R(answer, thinking), reasoning=False).count("cm-lp-section") == 0
    only = _cell.logprobs_html(R([], thinking))
    assert only.startswith('<details class="cm-lp-section">')
