"""Memory: resident growth over 1,000 streamed %%cerebras calls in one shell (no leak of responses/handles)."""
from __future__ import annotations

import gc
import os

from .stream import ServerProcess


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(calls: int = 1000, tokens: int = 200) -> dict:
    from .magic import _shell
    with ServerProcess() as srv:
        sh = _shell(srv.base_url)
        sh.run_line_magic("config", "Cerebras.history_path = ''")  # memory-only history: its rows are data
        cell = f"%%cerebras --min-tokens {tokens} --max-tokens {tokens}\nmemory"
        marks = {}
        for i in range(1, calls + 1):
            sh.run_cell(cell, store_history=False)
            sh.display_pub.messages.clear()
            if i in (100, calls // 2, calls):
                gc.collect()
                marks[i] = _rss_mb()
        import cerebras_magic as cm
        rows = len(cm.history())
    first, last = marks[100], marks[calls]
    return {"calls": calls, "rss_after_100": first, "rss_after_half": marks[calls // 2], "rss_after_all": last,
            "growth_mb": last - first, "per_call_kb": (last - first) * 1024 / (calls - 100), "history_rows": rows}


def report() -> str:
    m = measure()
    return (f"Memory over {m['calls']:,} streamed calls (200 tokens each, one shell): RSS {m['rss_after_100']:.1f} MB "
            f"after 100, {m['rss_after_half']:.1f} MB after {m['calls'] // 2}, {m['rss_after_all']:.1f} MB after "
            f"{m['calls']}: +{m['growth_mb']:.1f} MB = {m['per_call_kb']:.1f} KB/call "
            f"(the in-memory history holds {m['history_rows']:,} rows with their text)")
