"""Tables for the line commands: the model list with its catalogue, and the latest rate limits."""
from __future__ import annotations

import datetime as _dt
from typing import Optional


def models_frame(models: list, catalogue: dict):
    """One row per live model id; the public catalogue's name, limits, prices (US$ per million tokens),
    capabilities and status where it has the model (a server without a catalogue: the plain list)."""
    import pandas as pd
    rows = []
    for m in models:
        entry = catalogue.get(m["id"]) or {}
        row = {"id": m["id"]}
        if catalogue:
            limits, pricing = entry.get("limits") or {}, entry.get("pricing") or {}
            caps = entry.get("capabilities") or {}
            row.update(name=entry.get("name"), deprecated=entry.get("deprecated"), preview=entry.get("preview"),
                       context=limits.get("max_context_length"), max_completion=limits.get("max_completion_tokens"),
                       usd_per_m_prompt=_per_million(pricing.get("prompt")),
                       usd_per_m_completion=_per_million(pricing.get("completion")),
                       usd_per_m_cached=_per_million(pricing.get("input_cache_read")))
        row.update(created=_date(entry.get("created") or m.get("created")),
                   owned_by=entry.get("owned_by") or m.get("owned_by"))
        if catalogue:
            row["capabilities"] = ", ".join(k for k, v in caps.items() if v is True) or None
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("id")
    for name in ("context", "max_completion"):
        if name in frame:
            frame[name] = frame[name].astype("Int64")
    return frame


def limits_frame(seen_at: str, ratelimit):
    """One row per rate-limit bucket the server's latest headers described, with when it refills."""
    import pandas as pd
    when = _dt.datetime.fromisoformat(seen_at)
    rows = []
    for bucket, limit, remaining, reset in ratelimit.buckets():
        rows.append({"bucket": bucket.replace("_", " "), "limit": limit, "remaining": remaining,
                     "resets_in_s": reset,
                     "resets_at": None if reset is None else (when + _dt.timedelta(seconds=reset)).isoformat(
                         timespec="seconds")})
    frame = pd.DataFrame(rows).set_index("bucket")
    for name in ("limit", "remaining"):
        frame[name] = frame[name].astype("Int64")
    frame.attrs["seen_at"] = seen_at
    return frame


def _date(epoch) -> Optional[_dt.date]:
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool) or epoch <= 0:
        return None
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).date()


def _per_million(price) -> Optional[float]:
    try:
        return None if price is None else round(float(price) * 1e6, 6)
    except (TypeError, ValueError):
        return None
