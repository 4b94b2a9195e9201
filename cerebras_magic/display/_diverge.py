"""Where several answers to one prompt differ: word-by-word alignment (difflib), how much they agree, and
the per-position probability lines of each answer on one small plot.

Pure functions of texts and token entries (no request objects), so the grid, `cm.compare(..., n=5)` and a
fork beside its original all use them. Every piece of model text is escaped (_escape.py).
"""
from __future__ import annotations

import difflib
import html
import itertools
import math
import re
from typing import List, Optional, Sequence

from ._escape import html_text, plain

MAX_WORDS = 600          # words of each answer the alignment looks at (the view stays small and quick)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_WORD = re.compile(r"\S+\s*|\s+")

STYLE = (".cm-div{font-size:13px;margin:.4em 0}.cm-div-row{display:flex;gap:.6em;margin:.15em 0;align-items:baseline}"
         ".cm-div-lab{flex:0 0 12em;font-family:var(--jp-code-font-family,monospace);font-size:12px;overflow:hidden;"
         "text-overflow:ellipsis;white-space:nowrap;color:var(--jp-ui-font-color2,#555)}"
         ".cm-div-txt{white-space:pre-wrap;font-family:var(--jp-code-font-family,monospace);font-size:12px}"
         ".cm-div ins{background:#c8f0c8;color:#1a1a1a;text-decoration:none}"
         ".cm-div del{background:#f6c9c9;color:#1a1a1a}.cm-div .cm-div-at{outline:2px solid #c5221f;outline-offset:1px}"
         ".cm-div-same{color:var(--jp-ui-font-color2,#777)}.cm-div-sum{font-family:var(--jp-code-font-family,monospace);"
         "font-size:12px;margin:.3em 0}")


def words(text: str) -> List[str]:
    """Words with their trailing whitespace: joined back they give the text."""
    return _WORD.findall(text or "")


def _bare(ws: Sequence[str]) -> List[str]:
    return [w.strip() for w in ws]


def common_prefix(texts: Sequence[str]) -> int:
    """How many leading words every text shares."""
    lists = [_bare(words(t)) for t in texts]
    if not lists:
        return 0
    n = 0
    for column in zip(*lists):
        if any(w != column[0] for w in column):
            break
        n += 1
    return n


def similarity(a: str, b: str) -> float:
    """0 (nothing shared) to 1 (the same words in the same order), difflib's ratio over words."""
    wa, wb = _bare(words(a))[:MAX_WORDS], _bare(words(b))[:MAX_WORDS]
    if not wa and not wb:
        return 1.0
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def agreement(texts: Sequence[str]) -> dict:
    """How much answers agree: distinct texts, the mean pairwise word similarity, the shared first words."""
    texts = list(texts)
    pairs = list(itertools.combinations(range(len(texts)), 2))
    mean = sum(similarity(texts[i], texts[j]) for i, j in pairs) / len(pairs) if pairs else 1.0
    return {"answers": len(texts), "distinct": len({t.strip() for t in texts}), "mean_similarity": mean,
            "common_words": common_prefix(texts)}


def agreement_line(texts: Sequence[str]) -> str:
    a = agreement(texts)
    if a["answers"] < 2:
        return ""
    if a["distinct"] == 1:
        return f"all {a['answers']} answers are the same"
    first = (f"they first differ at word {a['common_words'] + 1}" if a["common_words"]
             else "they differ from the first word")
    return (f"{a['distinct']} distinct answers of {a['answers']} · mean word similarity {a['mean_similarity']:.2f} · "
            f"{first}")


def _span(ws: Sequence[str], tag: Optional[str] = None, mark: bool = False) -> str:
    text = html_text("".join(ws))
    if not text:
        return ""
    cls = ' class="cm-div-at"' if mark else ""
    return f"<{tag}{cls}>{text}</{tag}>" if tag else text


def divergence_html(labels: Sequence[str], texts: Sequence[str]) -> str:
    """The answers aligned word by word against the first: the shared opening once, then each answer from
    where they part, its own words in green, the first answer's words it lacks struck in red; the first
    place each differs is outlined."""
    if len(texts) < 2:
        return ""
    lists = [words(t)[:MAX_WORDS] for t in texts]
    k = common_prefix(texts)
    shared = "".join(lists[0][:k])
    head = (f"all {len(texts)} share their first {k} word{'s' if k != 1 else ''}" if k else "they differ from the first word")
    out = [f'<div class="cm-div"><style>{STYLE}</style>',
           f'<div class="cm-div-sum">divergence: {html.escape(agreement_line(texts) or head)}</div>']
    if shared:
        tail = shared if len(shared) <= 240 else "…" + shared[-240:]
        out.append(f'<div class="cm-div-row"><span class="cm-div-lab">shared opening</span>'
                   f'<span class="cm-div-txt cm-div-same">{html_text(tail)}</span></div>')
    ref = lists[0][k:]
    for i, (label, ws) in enumerate(zip(labels, lists)):
        rest = ws[k:]
        if i == 0:
            body = _span(rest[:1], "ins", mark=True) + _span(rest[1:])
        else:
            body, marked = [], False
            sm = difflib.SequenceMatcher(None, _bare(ref), _bare(rest), autojunk=False)
            for op, a0, a1, b0, b1 in sm.get_opcodes():
                if op == "equal":
                    body.append(_span(rest[b0:b1]))
                    continue
                if op in ("replace", "delete"):
                    body.append(_span(ref[a0:a1], "del", mark=not marked and op == "delete"))
                if op in ("replace", "insert"):
                    body.append(_span(rest[b0:b1], "ins", mark=not marked))
                marked = True
            body = "".join(body)
        cut = " …" if len(words(texts[i])) > MAX_WORDS else ""
        out.append(f'<div class="cm-div-row"><span class="cm-div-lab" title="{html_text(label)}">{html_text(label)}'
                   f'</span><span class="cm-div-txt">{body or "<i>(nothing after the shared opening)</i>"}{cut}</span></div>')
    out.append("</div>")
    return "".join(out)


def divergence_text(labels: Sequence[str], texts: Sequence[str]) -> str:
    """The plain-text twin: the agreement line and where each answer parts from the first."""
    if len(texts) < 2:
        return ""
    k = common_prefix(texts)
    lines = ["divergence: " + (agreement_line(texts) or "")]
    for label, t in zip(labels, texts):
        rest = "".join(words(t)[k:k + 8]).strip()
        lines.append(f"  {plain(label)}: …{plain(rest)[:80]}")
    return "\n".join(lines)


def prob_lines_svg(labels: Sequence[str], entries: Sequence[Sequence[dict]], width: int = 640, height: int = 120,
                   points: int = 200) -> str:
    """Each answer's token probability (0-1) by position, one coloured line per answer (the lowest of each
    bucket, so dips show), with axes and a legend."""
    series = [[(i, math.exp(e["logprob"])) for i, e in enumerate(es) if e.get("logprob") is not None] for es in entries]
    if not any(len(s) >= 2 for s in series):
        return ""
    left, right, top, bottom = 34, 10, 6, 30
    pw, ph = width - left - right, height - top - bottom
    last = max(s[-1][0] for s in series if s) or 1

    def x(pos: float) -> float:
        return left + pw * pos / last

    def y(v: float) -> float:
        return top + (1 - v) * ph

    out = [f'<svg class="cm-lines" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="token probability by position, one line per answer" style="display:block;max-width:100%;'
           f'height:auto;background:var(--jp-layout-color1,#fafafa);border:1px solid var(--jp-border-color2,#ddd)">'
           f'<style>.cm-lines text{{fill:var(--jp-ui-font-color1,#333);font:9px sans-serif}}</style>']
    for v in (0, .5, 1):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#bbb" '
                   f'stroke-dasharray="{"" if v == 0 else "2 3"}"/><text x="{left - 3}" y="{y(v) + 3:.1f}" '
                   f'text-anchor="end">{v:g}</text>')
    out.append(f'<text x="{left}" y="{top + ph + 11}">0</text><text x="{width - right}" y="{top + ph + 11}" '
               f'text-anchor="end">token {last:,}</text>')
    lx = left
    for k, (label, s) in enumerate(zip(labels, series)):
        color, dash = PALETTE[k % len(PALETTE)], "" if k < len(PALETTE) else "4 2"
        if len(s) >= 2:
            step = max(1, math.ceil(len(s) / points))
            lows = [min(s[i:i + step], key=lambda kv: kv[1]) for i in range(0, len(s), step)]
            pts = " ".join(f"{x(p):.1f},{y(v):.1f}" for p, v in lows)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" stroke-dasharray="{dash}" '
                       f'points="{pts}"><title>{html_text(label)}</title></polyline>')
        name = html_text(label if len(label) <= 28 else label[:27] + "…")
        out.append(f'<rect x="{lx}" y="{height - 10}" width="10" height="3" fill="{color}"/>'
                   f'<text x="{lx + 13}" y="{height - 6}">{name}</text>')
        lx += 20 + 5.2 * min(len(label), 28)
    out.append("</svg>")
    return "".join(out)
