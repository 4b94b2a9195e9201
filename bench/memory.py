"""Memory: resident growth over 1,000 streamed %%cerebras calls in one shell (no leak of responses/handles).

Run twice: once keeping every call's in-memory history row, as a session does, and once clearing those rows
after each call. The second run's growth is what calls leave behind besides their rows: a leak shows there.
"""
from __future__ import annotations

import gc
import os

from .stream import ServerProcess


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(calls: int = 1000, tokens: int = 200, keep_rows: bool = True) -> dict:
    from cerebras_magic.core import default_session

    from .magic import _shell
    with ServerProcess() as srv:
        sh = _shell(srv.base_url)
        sh.run_line_magic("config", "Cerebras.history_path = ''")  # memory-only history: its rows are data
        cell = f"%%cerebras --min-tokens {tokens} --max-tokens {tokens}\nmemory"
        history = default_session().history
        history.clear()
        marks, rows = {}, 0
        for i in range(1, calls + 1):
            sh.run_cell(cell, store_history=False)
            sh.display_pub.messages.clear()
            rows = max(rows, len(history))
            if not keep_rows:
                history.clear()
            if i in (100, calls // 2, calls):
                gc.collect()
                marks[i] = _rss_mb()
    first, last = marks[100], marks[calls]
    return {"calls": calls, "rss_after_100": first, "rss_after_half": marks[calls // 2], "rss_after_all": last,
            "growth_mb": last - first, "per_call_kb": (last - first) * 1024 / (calls - 100), "history_rows": rows}


def report() -> str:
    lines = ["Memory over 1,000 streamed calls (200 tokens each, one shell)"]
    # the leak test first, on a fresh heap: run second, its growth could hide in memory the other freed
    for keep, what in ((False, "history rows cleared after each call"), (True, "history rows kept")):
        m = measure(keep_rows=keep)
        lines.append(f"  {what + ':':38} RSS {m['rss_after_100']:.1f} MB after 100, {m['rss_after_half']:.1f} MB "
                     f"after {m['calls'] // 2}, {m['rss_after_all']:.1f} MB after {m['calls']}: "
                     f"+{m['growth_mb']:.1f} MB = {m['per_call_kb']:.1f} KB/call (rows held at most: {m['history_rows']:,})")
    return "\n".join(lines)
