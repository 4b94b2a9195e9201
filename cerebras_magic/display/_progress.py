"""A batch's progress: a live bar in a notebook, plain text in a terminal, and the summary line at the end.

Updates are bounded by time (at most `rate` a second in a notebook; a terminal line at most every few
seconds when stderr is a file), never by rows, so a batch of a million fast rows sends as few messages as a
slow one. In a notebook the bar is one display handle, created empty and emptied at the end, and the final
bar with the summary is its own output, as the cell renderer does: a saved notebook, nbval (which ignores
display updates) and a live front end hold the same outputs. A run in the background keeps its final bar
in place instead (it may end while another cell runs). Names (a batch's name) are user text: escaped.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Optional

from ._escape import html_text, plain

WIDTH = 30  # characters of the text bar


def _eta(p) -> str:
    if p.eta is None:
        return ""
    s = int(round(p.eta))
    return f" · ETA {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f" · ETA {s // 60}:{s % 60:02d}" if s >= 60 else f" · ETA {s} s"


def progress_line(p) -> str:
    """'sentiment-v1 12/40 · ok 11 · error 1 · 23.1 req/s · 1,234 tok/s · ETA 2 s' (total unknown: '12 done')."""
    done = f"{p.done:,}/{p.total:,}" if p.total is not None else f"{p.done:,} done"
    parts = [f"{p.label} {done}", f"ok {p.ok:,}", f"error {p.error:,}"]
    if p.interrupted:
        parts.append(f"interrupted {p.interrupted:,}")
    if p.resumed:
        parts.append(f"{p.resumed:,} from history")
    parts.append(f"{p.rps:,.1f} req/s · {p.tps:,.0f} tok/s in+out")
    line = " · ".join(parts) + _eta(p)
    if p.waiting:
        line += f" · waiting for the rate limit ({p.waiting})"
    return plain(line)


def text_bar(p) -> str:
    if not p.total:
        return ""
    filled = int(WIDTH * min(1.0, p.done / p.total))
    return "[" + "#" * filled + "." * (WIDTH - filled) + "] "


def progress_html(p, summary: Optional[str] = None) -> str:
    share = 100.0 * min(1.0, p.done / p.total) if p.total else 0.0
    bad = 100.0 * min(1.0, (p.error + p.interrupted) / p.total) if p.total else 0.0
    bar = ("<div style='position:relative;height:.8em;max-width:36em;background:var(--jp-layout-color3,#ddd);"
           "border-radius:3px;overflow:hidden'>"
           f"<div style='position:absolute;left:0;top:0;bottom:0;width:{share:.1f}%;"
           "background:var(--jp-brand-color1,#1976d2)'></div>"
           f"<div style='position:absolute;right:{100 - share:.1f}%;top:0;bottom:0;width:{bad:.1f}%;"
           "background:var(--jp-error-color1,#c62828)'></div></div>") if p.total else ""
    tail = f"<div>{html_text(summary)}</div>" if summary else ""
    return (f"<div class='cm-batch' style='font-family:var(--jp-code-font-family,monospace);font-size:85%'>{bar}"
            f"<div>{html_text(progress_line(p))}</div>{tail}</div>")


def bundle(p, summary: Optional[str] = None) -> dict:
    text = text_bar(p) + progress_line(p) + (f"\n{plain(summary)}" if summary else "")
    return {"text/plain": text, "text/html": progress_html(p, summary)}


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def money(usd: float) -> str:
    """A cost with two significant figures however small: $1.2345, $0.0123, $0.000044 (never $0.0000)."""
    if usd <= 0:
        return "$0"
    if usd >= 0.01:
        return f"${usd:,.4f}"
    if usd < 1e-9:
        return "<$0.000000001"
    decimals = 1 - math.floor(math.log10(usd))
    return f"${usd:.{decimals}f}"


def summary_line(s) -> str:
    """The end of a batch in one line, led by the input's rows (whatever happened to them): outcomes,
    tokens, cost, wall time, achieved rates."""
    rows = s.total if s.total is not None else s.done + s.not_sent
    parts = [f"{s.label}: {_count(rows, 'row')} in {s.elapsed:,.1f} s: {s.ok:,} ok", _count(s.error, "error")]
    if s.interrupted:
        parts.append(f"{s.interrupted:,} interrupted")
    if s.not_sent:
        parts.append(f"{s.not_sent:,} not sent")
    if s.resumed:
        parts.append(f"{s.resumed:,} from history ({s.resumed_errors:,} failed: retry_errors=True re-sends them)"
                     if s.resumed_errors else f"{s.resumed:,} from history")
    parts.append(f"{_count(s.tokens, 'token')} ({s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion)")
    if s.cost_usd is not None:
        parts.append(money(s.cost_usd))
    parts.append(f"{s.rps:,.1f} req/s · {s.tps:,.0f} tok/s (prompt + completion)")
    if s.rate_limited:
        parts.append(f"{s.rate_limited:,} rate-limited (429) {'response' if s.rate_limited == 1 else 'responses'}, "
                     "retried")
    line = " · ".join(parts)
    if s.stopped and s.named:
        line += " · stopped: run the same batch again to send the rest"
    return plain(line)


class ProgressView:
    """Shows one batch's progress: `update(p)` as often as you like, `close(p, summary)` once."""

    def __init__(self, rate: float = 4.0, in_place: bool = False, stream=None, notebook: Optional[bool] = None):
        self.interval, self.in_place = 1.0 / max(rate, 0.1), in_place
        self.stream = stream or sys.stderr
        if notebook is None:
            shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
            notebook = shell is not None and type(shell).__name__ != "TerminalInteractiveShell"
        self.notebook = notebook
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.handle, self._last, self.updates = None, 0.0, 0
        if not self.notebook and not self.tty:  # a log file gets a line every few seconds, the first after that
            self.interval, self._last = max(self.interval, 5.0), time.monotonic()

    def open(self) -> None:
        if self.notebook and self.handle is None:
            from IPython.display import display
            self.handle = display({"text/plain": ""}, raw=True, display_id=True)

    def update(self, p, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.updates += 1
        if self.notebook:
            self.open()
            self.handle.update(bundle(p), raw=True)
        elif self.tty:
            self.stream.write("\r" + text_bar(p) + progress_line(p) + "\x1b[K")
            self.stream.flush()
        else:
            self.stream.write(progress_line(p) + "\n")
            self.stream.flush()

    def close(self, p, summary: str) -> None:
        if self.notebook:
            if self.in_place:
                self.open()
                self.handle.update(bundle(p, summary), raw=True)
                return
            from IPython.display import display
            if self.handle is not None:
                self.handle.update({"text/plain": ""}, raw=True)
            display(bundle(p, summary), raw=True)
            return
        if self.tty and self.updates:
            self.stream.write("\r" + text_bar(p) + progress_line(p) + "\x1b[K\n")
        print(summary, flush=True)
