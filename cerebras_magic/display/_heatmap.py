"""The static heat-map of token probabilities: each token tinted by its probability, with the probability
and top alternatives in a popup, a summary line and a probability-by-position plot with axes.

It is plain HTML and CSS (no script, no event handler): saved notebooks, nbconvert, JupyterLab output
areas (trusted or not) and the playground's innerHTML all show it. Where the stylesheet is kept, hover or
focus shows the token's `title` as an in-page popup that overlays the page (CSS anchor positioning, fixed,
so an output area's overflow does not clip it and nothing below moves); the `title` stays for screen
readers and for sanitized outputs, which drop the stylesheet. "Least likely" links are real links (JupyterLab
scrolls to their ids itself); the token they point to is highlighted through `:target` in a plain page and
through the link's own focus (`:has`) where the fragment never becomes the page's URL. Every token is
escaped (display/_escape.py).
"""
from __future__ import annotations

import colorsys
import functools
import hashlib
import html
import itertools
import math
import re
from typing import List, Optional, Sequence

from ._escape import plain
from ._tokens import Piece, pieces, summary

_ids = itertools.count()
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})
_UNSAFE_LINE = re.compile(r"[\x80-\x9f\u2028\u2029]")  # C1 controls and line separators `plain` lets through
TEXT_COLOR = "#1a1a1a"  # on the fixed light tints, legend chips, box and popup, in any theme
_TIP = ("content:attr(title);z-index:30;white-space:pre;background:#fff;"
        f"color:{TEXT_COLOR};border:1px solid #888;border-radius:3px;padding:4px 6px;font:12px/1.35 "
        "var(--jp-code-font-family,monospace);box-shadow:0 2px 8px rgba(0,0,0,.3);pointer-events:none;text-align:left")
_FG = "var(--jp-ui-font-color1,var(--vscode-foreground,#1a1a1a))"  # the notebook's text colour, either theme


@functools.lru_cache(maxsize=None)
def style(links: int = 5) -> str:
    """The stylesheet; `links`: how many least-likely links (class cm-l<k>) highlight their token (class
    cm-lo<k>) while hovered or focused. `:is()` keeps the rules alive in a browser without `:has()`."""
    lit = ".cm-lp .cm-t:is(" + ",".join(f".cm-lp:has(.cm-l{k}:is(:hover,:focus)) .cm-lo{k}" for k in range(1, links + 1)) + ")"
    return (f".cm-lp{{color:{TEXT_COLOR};font-size:13px;line-height:1.7}}"
            ".cm-lp .cm-t{white-space:pre-wrap;font-family:var(--jp-code-font-family,monospace);border-radius:2px;"
            "position:relative;font-style:normal}.cm-lp .cm-t[id]{scroll-margin:3em 0}"
            ".cm-lp .cm-t:focus{outline:2px solid #1a73e8}"
            # a popup only for the token hovered, focused or pointed at (a rule on every token's ::after is slow)
            f".cm-lp .cm-t:is(:hover,:focus,:target)::after,{lit}::after{{{_TIP}}}"
            ".cm-lp .cm-t:is(:hover,:focus){z-index:1;anchor-name:--cm-tip;anchor-scope:--cm-tip}"
            f".cm-lp .cm-t:target,{lit}{{z-index:1;anchor-name:--cm-tip;anchor-scope:--cm-tip;"
            "outline:2px solid #c5221f;outline-offset:1px;box-shadow:0 0 0 4px rgba(197,34,31,.35)}"
            # the popup overlays the page, anchored to its token, flipped to stay in view: nothing moves
            "@supports (position-area:bottom){.cm-lp .cm-t::after{position:fixed;position-anchor:--cm-tip;top:auto;"
            "left:auto;margin:3px 0;position-area:bottom span-right;"
            "position-try-fallbacks:flip-block,flip-inline,flip-block flip-inline}}"
            "@supports not (position-area:bottom){.cm-lp .cm-t::after{position:absolute;left:0;top:1.6em}}"
            f".cm-lp-sum{{font-family:var(--jp-code-font-family,monospace);font-size:12px;margin:.3em 0;color:{_FG}}}"
            f".cm-lp-box{{background:#fff;color:{TEXT_COLOR};padding:6px 8px;border:1px solid #ccc;border-radius:4px}}"
            ".cm-lp-sum a{color:inherit;text-decoration:underline}"
            f".cm-lp-key{{padding:0 .5em;margin-left:1px;color:{TEXT_COLOR}}}"
            ".cm-lp-spark{display:block;max-width:100%;height:auto;margin:.3em 0;"
            "background:var(--jp-layout-color1,#fafafa);border:1px solid var(--jp-border-color2,#ddd)}"
            f".cm-lp-spark text{{fill:{_FG};font:9px sans-serif}}"
            ".cm-lp-spark .cm-ax{stroke:var(--jp-ui-font-color2,#777)}"
            ".cm-lp-spark .cm-grid{stroke:var(--jp-border-color1,#ccc);stroke-dasharray:2 3}"
            ".cm-lp-spark polyline{stroke:var(--jp-error-color1,#c62828)}")


STYLE = style()


def tint(p: Optional[float]) -> str:
    """Light tints only (dark text stays readable): red at 0, through amber, to near-white green at 1.
    As hex: JupyterLab's sanitizer drops hsl(), and untrusted outputs should stay tinted too."""
    if p is None:
        return "#e8e8e8"
    p = min(1.0, max(0.0, p))
    return _hex(round(120 * p), round(72 + 22 * p))  # hue 0..120, lightness 72%..94%, saturation 85%


@functools.lru_cache(maxsize=None)
def _hex(hue: int, light: int) -> str:
    r, g, b = colorsys.hls_to_rgb(hue / 360, light / 100, 0.85)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _fmt_p(p: float) -> str:
    return f"{p * 100:.1f}%" if p >= 0.001 else f"{p:.1e}"


def _visible(s: str) -> str:
    """One line, safe for a terminal: whitespace shown as symbols, control characters as escapes."""
    return _UNSAFE_LINE.sub(lambda m: f"\\u{ord(m.group()):04x}", plain(s.translate(_VISIBLE)))


def _short(s: str, n: int = 16) -> str:
    v = _visible(s)
    return v if len(v) <= n else v[:n - 1] + "…"


def tooltip(p: Piece, top_n: int) -> str:
    lines = [f"{_visible(p.text) or '(empty)'}  p={_fmt_p(p.prob)} logprob={p.logprob:.3f}" if p.logprob is not None
             else f"{_visible(p.text)}  (prompt token: no logprob)"]
    if len(p.tokens) > 1:
        lines.append(f"{len(p.tokens)} tokens share this character")
    shown = p.top[:top_n]
    for tok, lp in shown:
        mark = "✓" if tok == p.tokens[0] else "·"
        lines.append(f"{mark} {_visible(tok) or '(empty)'}  {_fmt_p(math.exp(lp))}")
    if shown:
        rest = 1.0 - sum(math.exp(lp) for _, lp in p.top)
        if rest > 0.0005:
            lines.append(f"  other  {_fmt_p(rest)}")
        if p.rank is None:
            lines.append(f"! chosen token not in the top {len(p.top)}")
    return "\n".join(lines)


def _numbers(s: dict, label: str) -> List[str]:
    bits = [f"{label}: {s['tokens']:,} tokens"]
    if s["mean_logprob"] is not None:
        bits += [f"mean logprob {s['mean_logprob']:.3f}", f"perplexity {s['perplexity']:.2f}"]
    return bits


def _context(ps: List[Piece], i: int, chars: int = 30) -> str:
    """The text around piece i, the piece in brackets: what a least-likely link points at, said in its title."""
    before = "".join(p.text for p in ps[max(0, i - 12):i])[-chars:]
    after = "".join(p.text for p in ps[i + 1:i + 13])[:chars]
    return plain(f"…{before}[{ps[i].text}]{after}…").replace("\n", "↵")


def _summary_html(s: dict, ps: List[Piece], uid: str, label: str) -> str:
    if not s["tokens"]:
        return f'<div class="cm-lp-sum">{html.escape(label)}: no logprobs were returned</div>'
    bits = _numbers(s, label)
    if s["approx_entropy"] is not None:
        bits.append(f"entropy ≈{s['approx_entropy']:.2f} nats (approx., top-K only)")
    index = {p.position: i for i, p in enumerate(ps)}
    low = ", ".join(f'<a class="cm-l{k}" href="#{uid}-{p.position}" title="{html.escape(_context(ps, index[p.position]))}">'
                    f"#{p.position} {html.escape(_short(p.text))} {_fmt_p(p.prob)}</a>" for k, p in enumerate(s["lowest"], 1))
    key = "".join(f'<span class="cm-lp-key" style="background:{tint(v)};color:{TEXT_COLOR}">{v:g}</span>' for v in (0, .25, .5, .75, 1))
    return (f'<div class="cm-lp-sum">{" · ".join(html.escape(b) for b in bits)} · '
            f'<span style="white-space:nowrap">p: {key}</span>'
            + (f'<br><span class="cm-lp-low">least likely: {low}</span>' if low else "") + "</div>")


def _nice_step(span: float, ticks: int = 4) -> int:
    """The largest 1, 2 or 5 x 10^k that puts at least `ticks` ticks on the axis."""
    raw = max(1.0, span / ticks)
    mag = 10 ** math.floor(math.log10(raw))
    return int(max(m * mag for m in (1, 2, 5) if m * mag <= raw))


def sparkline(ps: List[Piece], width: int = 600, height: int = 64, points: int = 300) -> str:
    """Probability (0 to 1) by token position as a small inline SVG with labelled axes; each point is the
    minimum of its bucket, at that token's position, so dips stay visible however long the answer."""
    known = [(p.position, p.prob) for p in ps if p.prob is not None]
    if len(known) < 2:
        return ""
    left, right, top, bottom = 34, 10, 5, 15
    pw, ph = width - left - right, height - top - bottom
    first, last = known[0][0], known[-1][0]
    span = max(1, last - first)

    def x(pos: float) -> float:
        return left + pw * (pos - first) / span

    def y(v: float) -> float:
        return top + (1 - v) * ph

    step = max(1, math.ceil(len(known) / points))
    lows = [min(known[i:i + step], key=lambda kv: kv[1]) for i in range(0, len(known), step)]
    pts = " ".join(f"{x(pos):.1f},{y(v):.1f}" for pos, v in lows)
    out = [f'<svg class="cm-lp-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="token probability, 0 to 1, by token position {first} to {last}; the lowest of each '
           f'{step} token{"s" if step > 1 else ""}" fill="#333">']
    for v in (0, .5, 1):
        cls = "cm-ax" if v == 0 else "cm-grid"
        out.append(f'<line class="{cls}" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#bbb"/>'
                   f'<text x="{left - 3}" y="{y(v) + 3:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<line class="cm-ax" x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#777"/>')
    tick = _nice_step(span)
    for t in range(math.ceil(first / tick) * tick, last + 1, tick):
        anchor = "end" if x(t) > width - right - 12 else "middle"
        out.append(f'<line class="cm-ax" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top + ph}" y2="{top + ph + 3}" stroke="#777"/>'
                   f'<text x="{x(t):.1f}" y="{height - 3}" text-anchor="{anchor}">{t:,}</text>')
    out.append(f'<text x="1" y="{height - 3}">token</text>'
               f'<polyline fill="none" stroke="#c62828" stroke-width="1" points="{pts}"/></svg>')
    return "".join(out)


def _uid(entries: Sequence[dict]) -> str:
    """Ids unique in the page (JupyterLab looks a link's id up in the whole document, every notebook open)
    yet the same when a notebook is run again (nbval compares outputs): a counter and a digest of the tokens."""
    digest = hashlib.blake2b(repr([(e.get("token"), e.get("logprob")) for e in entries]).encode(), digest_size=3)
    return f"cm-lp{next(_ids)}-{digest.hexdigest()}"


def heatmap_html(entries: Sequence[dict], *, scale: str = "absolute", top: int = 5, label: str = "tokens",
                 lowest: int = 5, plot: bool = True) -> str:
    """The whole view: summary, optional sparkline, then the tinted text with its popups."""
    if scale not in ("absolute", "relative"):
        raise ValueError(f"invalid scale={scale!r}; allowed: absolute (fixed 0-1) or relative (this answer's range)")
    uid = _uid(entries)
    ps = pieces(entries)
    s = summary(entries, lowest, ps)
    rank = {p.position: k for k, p in enumerate(s["lowest"], 1)}
    known = [p.prob for p in ps if p.prob is not None]
    lo, hi = (min(known), max(known)) if known and scale == "relative" else (0.0, 1.0)
    span = (hi - lo) or 1.0
    out = [f'<div class="cm-lp"><style>{style(min(max(lowest, 5), 20))}</style>', _summary_html(s, ps, uid, label)]
    if plot:
        out.append(sparkline(ps))
    out.append(f'<div class="cm-lp-box" style="background:#fff;color:{TEXT_COLOR}">')  # kept where <style> is not
    for p in ps:
        level = None if p.prob is None else (p.prob - lo) / span
        k = rank.get(p.position)
        extra = f' cm-lo{k}" id="{uid}-{p.position}' if k else ""
        out.append(f'<i class="cm-t{extra}" tabindex="0" style="background:{tint(level)}" '
                   f'title="{html.escape(tooltip(p, top), quote=True)}">{html.escape(_shown_text(p.text))}</i>')
    out.append("</div></div>")
    return "".join(out)


def _shown_text(text: str) -> str:
    return plain(text).replace("\n", "↵\n")


def section_html(entries: Sequence[dict], label: str, **options) -> str:
    """A heat-map folded away under its one-line numbers (the reasoning's, below the answer's)."""
    line = " · ".join(_numbers(summary(entries, 0, ps=[]), label)) if entries else f"{label}: no logprobs"
    return (f'<details class="cm-lp-section"><summary>{html.escape(line)}</summary>'
            f"{heatmap_html(entries, label=label, **options)}</details>")


def _summary_line(entries: Sequence[dict], label: str) -> str:
    s = summary(entries)
    if not s["tokens"]:
        return f"{label}: no logprobs"
    bits = _numbers(s, label)
    low = ", ".join(f"#{p.position} {_short(p.text)} {_fmt_p(p.prob)}" for p in s["lowest"])
    return " · ".join(bits + ([f"least likely: {low}"] if low else []))


def summary_text(entries: Sequence[dict], label: str = "tokens", reasoning: Optional[Sequence[dict]] = None) -> str:
    """The one line a terminal prints and repr(r) shows: the answer's numbers, then the reasoning's when given.
    Token text is shown with `plain` (whitespace as symbols), so the line stays one line and inert."""
    parts = [_summary_line(entries, label)]
    if reasoning:
        parts.append(_summary_line(reasoning, "reasoning tokens"))
    return " │ ".join(parts)


FORK_ALTERNATIVES = 5


def fork_pieces(entries: list, top: int = FORK_ALTERNATIVES) -> list:
    """For each piece of the heat-map (in the order its tokens appear): where it starts and the alternatives
    a fork can take there, [token, shown, probability], the chosen token and partial characters left out."""
    out = []
    for i, p in enumerate(pieces(entries)):
        alts = [[tok, _visible(tok) or "(empty)", round(math.exp(lp), 6)] for tok, lp in p.top
                if tok != p.tokens[0] and not tok.startswith("bytes:")][:top]
        if alts:
            out.append({"i": i, "position": p.position, "chosen": _visible(p.text), "alts": alts})
    return out


def fork_label(entries: list, position: int, token: str) -> str:
    """How a branch is named beside its original: where it departs, and with which token instead of which."""
    chosen = entries[position]["token"] if 0 <= position < len(entries) else "?"
    return f"fork at #{position}: {_visible(chosen)} → {_visible(token)}"
