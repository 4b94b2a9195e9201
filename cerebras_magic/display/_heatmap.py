"""The static heat-map of token probabilities: each token tinted by its probability, with the probability
and top alternatives in a tooltip, a summary line and a probability-by-position plot.

It is plain HTML with inline colours and `title` tooltips, so it works with no kernel and no JavaScript
(saved notebooks, nbconvert); a small stylesheet adds keyboard-focus tooltips where styles are allowed.
Every token is escaped.
"""
from __future__ import annotations

import html
import itertools
import math
from typing import List, Optional, Sequence

from ._escape import plain
from ._tokens import Piece, pieces, summary

_ids = itertools.count()
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


STYLE = (".cm-lp{color:#1a1a1a;font-size:13px;line-height:1.7}"
         ".cm-lp .cm-t{white-space:pre-wrap;font-family:var(--jp-code-font-family,monospace);border-radius:2px;"
         "position:relative;font-style:normal}"
         ".cm-lp .cm-t:focus{outline:2px solid #1a73e8}"
         ".cm-lp .cm-t:focus::after{content:attr(title);position:absolute;left:0;top:1.6em;z-index:10;"
         "white-space:pre;background:#fff;color:#1a1a1a;border:1px solid #999;padding:4px 6px;"
         "font-size:12px;line-height:1.35;box-shadow:0 2px 6px rgba(0,0,0,.25)}"
         ".cm-lp-sum{font-family:var(--jp-code-font-family,monospace);font-size:12px;margin:.3em 0;"
         "color:var(--jp-ui-font-color1,#1a1a1a)}"
         ".cm-lp-box{background:#fff;padding:6px 8px;border:1px solid #ddd;border-radius:4px}"
         ".cm-lp-box:focus-within{padding-bottom:11em}"  # room for the popup: output areas clip overflow
         ".cm-lp-sum a{color:inherit}.cm-lp-key{padding:0 .5em;margin-left:1px}")


def tint(p: Optional[float]) -> str:
    """Light tints only (dark text stays readable): red at 0, through amber, to near-white green at 1."""
    if p is None:
        return "#e8e8e8"
    p = min(1.0, max(0.0, p))
    hue = 120 * p
    light = 72 + 22 * p  # 72%..94%
    return f"hsl({hue:.0f},85%,{light:.0f}%)"


def _fmt_p(p: float) -> str:
    return f"{p * 100:.1f}%" if p >= 0.001 else f"{p:.1e}"


def _visible(s: str) -> str:
    return plain(s.translate(_VISIBLE))


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


def _summary_html(s: dict, uid: str, label: str) -> str:
    if not s["tokens"]:
        return f'<div class="cm-lp-sum">{label}: no logprobs were returned</div>'
    bits = [f"{label}: {s['tokens']:,} tokens"]
    if s["mean_logprob"] is not None:
        bits += [f"mean logprob {s['mean_logprob']:.3f}", f"perplexity {s['perplexity']:.2f}"]
    if s["approx_entropy"] is not None:
        bits.append(f"entropy ≈{s['approx_entropy']:.2f} nats (approx., top-K only)")
    low = ", ".join(f'<a href="#{uid}-{p.position}">#{p.position} {html.escape(_visible(p.text))} '
                    f"{_fmt_p(p.prob)}</a>" for p in s["lowest"])
    key = "".join(f'<span class="cm-lp-key" style="background:{tint(v)}">{v:g}</span>' for v in (0, .25, .5, .75, 1))
    return (f'<div class="cm-lp-sum">{" · ".join(html.escape(b) for b in bits)} · p: {key}'
            + (f"<br>least likely: {low}" if low else "") + "</div>")


def sparkline(ps: List[Piece], width: int = 600, height: int = 40, points: int = 300) -> str:
    """Probability over position as a small inline SVG (min per bucket, so dips stay visible)."""
    probs = [p.prob for p in ps if p.prob is not None]
    if len(probs) < 2:
        return ""
    step = max(1, math.ceil(len(probs) / points))
    mins = [min(probs[i:i + step]) for i in range(0, len(probs), step)]
    dx = width / max(1, len(mins) - 1)
    pts = " ".join(f"{i * dx:.1f},{(1 - v) * (height - 2) + 1:.1f}" for i, v in enumerate(mins))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="token probability by position (0 to 1)" style="display:block;background:#fafafa;'
            f'border:1px solid #ddd;margin:.3em 0"><polyline fill="none" stroke="#c62828" stroke-width="1" '
            f'points="{pts}"/></svg>')


def heatmap_html(entries: Sequence[dict], *, scale: str = "absolute", top: int = 5, label: str = "tokens",
                 lowest: int = 5, plot: bool = True) -> str:
    """The whole view: summary, optional sparkline, then the tinted text with tooltips."""
    if scale not in ("absolute", "relative"):
        raise ValueError(f"invalid scale={scale!r}; allowed: absolute (fixed 0-1) or relative (this answer's range)")
    uid = f"cm-lp{next(_ids)}"
    ps = pieces(entries)
    s = summary(entries, lowest, ps)
    anchors = {p.position for p in s["lowest"]}
    known = [p.prob for p in ps if p.prob is not None]
    lo, hi = (min(known), max(known)) if known and scale == "relative" else (0.0, 1.0)
    span = (hi - lo) or 1.0
    out = [f'<div class="cm-lp"><style>{STYLE}</style>', _summary_html(s, uid, label)]
    if plot:
        out.append(sparkline(ps))
    out.append('<div class="cm-lp-box">')
    for p in ps:
        level = None if p.prob is None else (p.prob - lo) / span
        ident = f' id="{uid}-{p.position}"' if p.position in anchors else ""
        text = html.escape(_shown_text(p.text))
        out.append(f'<i class="cm-t" tabindex="0"{ident} style="background:{tint(level)}" '
                   f'title="{html.escape(tooltip(p, top), quote=True)}">{text}</i>')
    out.append("</div></div>")
    return "".join(out)


def _shown_text(text: str) -> str:
    return plain(text).replace("\n", "↵\n")


def summary_text(entries: Sequence[dict], label: str = "tokens") -> str:
    s = summary(entries)
    if not s["tokens"]:
        return f"{label}: no logprobs"
    low = ", ".join(f"#{p.position} {_visible(p.text)} {_fmt_p(p.prob)}" for p in s["lowest"])
    mean = f"mean logprob {s['mean_logprob']:.3f} · perplexity {s['perplexity']:.2f}" if s["mean_logprob"] is not None else ""
    return f"{label}: {s['tokens']:,} tokens · {mean} · least likely: {low}"
