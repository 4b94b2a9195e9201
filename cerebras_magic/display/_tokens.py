"""How sure the model was of each token, as numbers: tokens regrouped into whole characters, the token table
and the summary (mean logprob, perplexity, approximate entropy, least likely pieces).

Entries are the normalized dicts a Result keeps (token, logprob, bytes, top=[(token, logprob)], offset).
Tokens that split a multi-byte character are regrouped from their `bytes`, so an emoji cut in two shows as
one character (bytes that never form UTF-8 show as <0xNN>).
"""
from __future__ import annotations

import codecs
import json
import math
import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

_BYTES_TOKEN = re.compile(r"\\x([0-9a-fA-F]{2})")


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
