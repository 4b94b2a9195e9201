"""How sure the model was of each token: a table, a summary and a static heat-map.

Entries are the normalized dicts a Result keeps (token, logprob, bytes, top=[(token, logprob)], offset).
Tokens that split a multi-byte character are regrouped from their `bytes`, so an emoji cut in two shows as
one character (bytes that never form UTF-8 show as <0xNN>). The heat-map is plain HTML with inline
colours and `title` tooltips, so it works with no kernel and no JavaScript (saved notebooks, nbconvert);
a small stylesheet adds keyboard-focus tooltips where styles are allowed. Every token is escaped.
"""
from __future__ import annotations

import codecs
import html
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

_ids = itertools.count()
_BYTES_TOKEN = re.compile(r"\\x([0-9a-fA-F]{2})")
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


def _hex_errors(err: UnicodeDecodeError):
    return "".join(f"<0x{b:02X}>" for b in err.object[err.start:err.end]), err.end


codecs.register_error("cm_hex", _hex_errors)


@dataclass
class Piece:
    """One shown unit: usually one token; several when they share a multi-byte character."""

    text: str
    logprob: Optional[float]
    tokens: List[str]
    top: List[tuple] = field(default_factory=list)      # [(token, logprob)] of the first token, sorted
    rank: Optional[int] = None                          # 1-based rank of the chosen token in top; None if absent
    position: int = 0                                   # index of the first token
    offset: Optional[int] = None

    @property
    def prob(self) -> Optional[float]:
        return None if self.logprob is None else math.exp(self.logprob)


def token_bytes(entry: dict) -> bytes:
    if entry.get("bytes"):
        return bytes(entry["bytes"])
    tok = entry.get("token") or ""
    if tok.startswith("bytes:"):  # vLLM-style name of a partial UTF-8 token
        return bytes(int(h, 16) for h in _BYTES_TOKEN.findall(tok))
    return tok.encode("utf-8", "surrogatepass")


def pieces(entries: Sequence[dict]) -> List[Piece]:
    """Group tokens so every piece holds whole characters; the group's logprob is the sum of its tokens'."""
    out: List[Piece] = []
    buf, group = b"", []
    for i, e in enumerate(entries):
        buf += token_bytes(e)
        group.append((i, e))
        if _incomplete_tail(buf) and len(buf) < 64 and i < len(entries) - 1:
            continue  # the character is finished by a following token
        out.append(_piece(buf.decode("utf-8", "cm_hex"), group))
        buf, group = b"", []
    return out


def _incomplete_tail(b: bytes) -> bool:
    """True if b ends inside a UTF-8 sequence that more bytes could complete."""
    for back in range(1, min(4, len(b)) + 1):
        c = b[-back]
        if c & 0xC0 != 0x80:  # a lead byte (or ASCII)
            need = 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 1
            return need > back
    return False


def _piece(text: str, group: list) -> Piece:
    i, first = group[0]
    lps = [e.get("logprob") for _, e in group]
    lp = None if any(v is None for v in lps) else sum(lps)
    top = sorted(first.get("top") or [], key=lambda kv: -kv[1])
    names = [t for t, _ in top]
    rank = names.index(first.get("token")) + 1 if first.get("token") in names else None
    return Piece(text, lp, [e.get("token") or "" for _, e in group], top, rank, i, first.get("offset"))


# -------------------------------------------------------------------------------- numbers

def summary(entries: Sequence[dict], lowest: int = 5, ps: Optional[List[Piece]] = None) -> dict:
    """Token count, mean logprob, perplexity, approximate entropy and the least likely pieces
    (`ps`: the entries' pieces, when the caller already has them)."""
    ps = [p for p in (pieces(entries) if ps is None else ps) if p.logprob is not None]
    lps = [e["logprob"] for e in entries if e.get("logprob") is not None]
    mean = sum(lps) / len(lps) if lps else None
    ents = [approx_entropy(e.get("top") or [], e.get("logprob")) for e in entries if e.get("logprob") is not None]
    return {"tokens": len(entries), "mean_logprob": mean,
            "perplexity": math.exp(-mean) if mean is not None else None,
            "approx_entropy": sum(ents) / len(ents) if ents else None,
            "lowest": sorted(ps, key=lambda p: p.logprob)[:lowest]}


def approx_entropy(top: Sequence[tuple], chosen_lp: Optional[float]) -> float:
    """Entropy (nats) over the known top-K plus the rest lumped as one outcome: a lower bound, approximate."""
    probs = [math.exp(lp) for _, lp in top] or ([math.exp(chosen_lp)] if chosen_lp is not None else [])
    rest = max(0.0, 1.0 - sum(probs))
    return -sum(p * math.log(p) for p in probs + [rest] if p > 0)


def frame(entries: Sequence[dict]):
    """One row per token: position, token, text (whole characters), offset, logprob, prob, rank, top."""
    import pandas as pd
    rows = []
    for p in pieces(entries):
        for j, tok in enumerate(p.tokens):
            e = entries[p.position + j]
            lp = e.get("logprob")
            top = sorted(e.get("top") or [], key=lambda kv: -kv[1])
            names = [t for t, _ in top]
            rows.append({"position": p.position + j, "token": tok, "text": p.text if j == 0 else "",
                         "text_offset": e.get("offset"), "logprob": lp,
                         "prob": None if lp is None else math.exp(lp),
                         "rank": names.index(tok) + 1 if tok in names else None,
                         "top": [(t, l, math.exp(l)) for t, l in top],
                         "entropy_approx": approx_entropy(top, lp) if lp is not None else None})
    cols = ["position", "token", "text", "text_offset", "logprob", "prob", "rank", "top", "entropy_approx"]
    df = pd.DataFrame(rows, columns=cols)
    df["rank"] = df["rank"].astype("Int64")
    return df


def entries_from_compact(compact) -> List[dict]:
    """History rows keep logprobs as compact JSON: [[token, logprob, [[alt, lp], ...], bytes?], ...]."""
    if compact is None or (isinstance(compact, float) and math.isnan(compact)):
        return []
    rows = json.loads(compact) if isinstance(compact, str) else compact
    return [{"token": r[0], "logprob": r[1], "top": [tuple(a) for a in r[2]], "bytes": r[3] if len(r) > 3 else None}
            for r in rows]


# -------------------------------------------------------------------------------- heat-map

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
    from .render import plain
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
    from .render import plain
    return plain(text).replace("\n", "↵\n")


def summary_text(entries: Sequence[dict], label: str = "tokens") -> str:
    s = summary(entries)
    if not s["tokens"]:
        return f"{label}: no logprobs"
    low = ", ".join(f"#{p.position} {_visible(p.text)} {_fmt_p(p.prob)}" for p in s["lowest"])
    mean = f"mean logprob {s['mean_logprob']:.3f} · perplexity {s['perplexity']:.2f}" if s["mean_logprob"] is not None else ""
    return f"{label}: {s['tokens']:,} tokens · {mean} · least likely: {low}"
