"""Several answers side by side: the live grid while they stream, then the static final grid.

One column per answer: a header with its parameters, the text, a footer with TTFT, tok/s, tokens and cost;
a failed answer is an error in its own column. While streaming, the observers (one per column, called on
the thread that runs the requests) only collect text; `tick()`, called by the cell's own thread, sends one
display update for the whole grid at most `rate` times a second, so the message count depends on time, not
on the number of columns or tokens, and each update carries at most LIVE_TAIL characters a column. At the
end the live view is emptied and the final grid is displayed as its own output: static HTML (no script),
readable in a saved notebook with no kernel. Every piece of model text is escaped (_escape.py).
"""
from __future__ import annotations

import html
import threading
import time
from typing import List, Optional, Sequence

from ._cell import _in_ipython, _is_terminal, body_html, status_note
from ._diverge import agreement_line, divergence_html, divergence_text, prob_lines_svg
from ._escape import html_text, plain

LIVE_TAIL = 2_000  # characters of each column a live update carries
VARYING = ("ttft", "tokens_per_second", "duration")  # timings: class cm-v, so a notebook test can mask them
STYLE = ("<style>.cm-grid{display:grid;gap:8px;overflow-x:auto;font-size:13px}"
         ".cm-col{border:1px solid var(--jp-border-color2,#ddd);border-radius:4px;padding:4px 6px;min-width:0}"
         ".cm-col-head{font-family:var(--jp-code-font-family,monospace);font-size:12px;font-weight:600;"
         "border-bottom:1px solid var(--jp-border-color2,#ddd);padding-bottom:2px;margin-bottom:4px;"
         "overflow-wrap:anywhere}.cm-col pre{white-space:pre-wrap;margin:0;font-size:12px;max-height:28em;overflow-y:auto}"
         ".cm-col-body{overflow-wrap:anywhere;max-height:40em;overflow-y:auto}"
         ".cm-col-foot{margin-top:4px;font-size:11px;color:var(--jp-ui-font-color2,#666);"
         "font-family:var(--jp-code-font-family,monospace)}.cm-col-err{color:var(--jp-error-color1,#c62828)}"
         ".cm-col-warn{color:var(--jp-warn-color0,#b35c00)}.cm-sum{border-collapse:collapse;font-size:12px;margin:.5em 0}"
         ".cm-sum td,.cm-sum th{border:1px solid var(--jp-border-color2,#ddd);padding:2px 6px;text-align:left;"
         "vertical-align:top}.cm-sum td.cm-n{text-align:right}</style>")


# the live view is light: inline styles only (no <style> block for the page to re-parse on every update)
LIVE_STYLE = "display:grid;gap:8px;overflow-x:auto;font-size:12px"
COL_STYLE = "border:1px solid #ccc;border-radius:4px;padding:4px 6px;min-width:0"
PRE_STYLE = "white-space:pre-wrap;margin:2px 0;max-height:24em;overflow-y:auto"


def _columns_style(n: int) -> str:
    return f"grid-template-columns:repeat({n},minmax(14em,1fr))"


def col_footer(r) -> str:
    """TTFT, tok/s, tokens, cost, finish: the figures a column compares."""
    parts = []
    if r.completion_tokens:
        parts.append(f"{r.completion_tokens:,} tokens")
    if r.ttft is not None:
        parts.append(f"TTFT {r.ttft * 1000:,.0f} ms")
    if r.tokens_per_second:
        parts.append(f"{r.tokens_per_second:,.0f} tok/s")
    if r.cost_usd is not None:
        parts.append(f"${r.cost_usd:,.6f}")
    if r.finish_reason:
        parts.append("finish: length" if r.finish_reason == "length" else f"finish: {r.finish_reason}")
    if getattr(r, "parent_id", None):
        parts.append(f"fork of {r.parent_id} at #{r.fork_at}")
    return " · ".join(parts)


class _Column:
    """What a live column shows, fed on the requests' thread and read on the cell's (under the view's lock)."""

    def __init__(self, view: "GridView"):
        self.view, self.parts, self.reasoning = view, [], 0
        self.status, self.foot, self.dirty = "waiting", "", False

    def note(self, text: str) -> None:
        with self.view.lock:
            self.foot, self.dirty = plain(text), True

    def start(self, result) -> None:
        with self.view.lock:
            self.status, self.dirty = "running", True

    def update(self, result, new: str) -> None:
        if not (new or result.new_reasoning):
            return
        with self.view.lock:
            if new:
                self.parts.append(new)
            self.reasoning += len(result.new_reasoning)
            self.dirty = True

    def finish(self, result) -> None:
        with self.view.lock:
            self.status, self.dirty = result.status, True
            self.foot = result.error if result.status == "error" else col_footer(result)

    def tail(self) -> str:
        """The column's live text (caller holds the lock); only the tail is kept."""
        if len(self.parts) > 1 or (self.parts and len(self.parts[0]) > LIVE_TAIL):
            self.parts[:] = ["".join(self.parts)[-LIVE_TAIL:]]
        text = self.parts[0] if self.parts else ""
        if not text and self.reasoning:
            return f"(reasoning: {self.reasoning:,} characters so far)"
        return text


class GridView:
    """The live grid of one cell: `column(i)` is answer i's observer; `tick()` sends at most `rate` updates a
    second for the whole grid; `close()` empties it (the final grid is then displayed by `show_final`)."""

    def __init__(self, labels: Sequence[str], rate: float = 15.0, stream: bool = True):
        self.labels, self.lock = list(labels), threading.Lock()
        self.columns = [_Column(self) for _ in self.labels]
        self.interval, self.stream = 1.0 / max(rate, 0.1), stream
        self.handle, self.sent, self._last = None, 0, 0.0
        self.terminal = _is_terminal() or not _in_ipython()  # no live view to update

    def column(self, i: int) -> _Column:
        return self.columns[i]

    def open(self) -> None:
        if self.terminal or not self.stream:
            return
        from IPython.display import display
        self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        self.sent = 1

    def tick(self, force: bool = False) -> bool:
        """One update for the whole grid if a column changed and the interval has passed."""
        now = time.monotonic()
        if self.handle is None or (not force and now - self._last < self.interval):
            return False
        with self.lock:
            if not any(c.dirty for c in self.columns):
                return False
            snap = [(c.status, c.tail(), c.foot) for c in self.columns]
            for c in self.columns:
                c.dirty = False
        self._last = now
        self.sent += 1
        self.handle.update(live_bundle(self.labels, snap), raw=True)
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.sent += 1


def live_bundle(labels: Sequence[str], snap: Sequence[tuple]) -> dict:
    """The live grid: each column's header, text tail (plain text, escaped) and status line."""
    cols, lines = [], []
    for label, (status, text, foot) in zip(labels, snap):
        line = " · ".join(x for x in (status, foot) if x)
        cols.append(f'<div class="cm-col" style="{COL_STYLE}"><b>{html_text(label)}</b><pre style="{PRE_STYLE}">'
                    f'{html_text(text)}</pre><small>{html_text(line)}</small></div>')
        lines.append(f"── {plain(label)} ── {plain(line)}\n{plain(text[-300:])}")
    page = f'<div class="cm-grid cm-grid-live" style="{LIVE_STYLE};{_columns_style(len(cols))}">{"".join(cols)}</div>'

    return {"text/html": page, "text/plain": "\n".join(lines)}


def _final_column(label: str, r, fmt: str) -> str:
    note = status_note(r)
    body = body_html(r.text, fmt) if r.text else ""
    if r.reasoning:
        body = (f'<details><summary>reasoning ({len(r.reasoning):,} characters)</summary><pre>'
                f"{html_text(r.reasoning)}</pre></details>") + body
    err = ""
    if note:
        css = "cm-col-err" if r.status == "error" else "cm-col-warn"
        err = f'<div class="{css}">{html.escape(note)}</div>'
    foot = col_footer(r)
    return (f'<div class="cm-col" data-status="{html.escape(r.status)}"><div class="cm-col-head">{html_text(label)}</div>'
            f'<div class="cm-col-body">{body}</div>{err}<div class="cm-col-foot">{html.escape(foot)}</div></div>')


def table_html(rows: List[dict], columns: Sequence[str]) -> str:
    """The summary table (the Comparison's frame) as escaped HTML, numbers right-aligned."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            if isinstance(v, float):
                shown = f"{v:.6f}" if c == "cost_usd" else f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
                cls = ' class="cm-n cm-v"' if c in VARYING else ' class="cm-n"'
            elif isinstance(v, int) and not isinstance(v, bool):
                shown, cls = f"{v:,}", " class=\"cm-n\""
            else:
                text = "" if v is None else str(v)
                shown, cls = (text if len(text) <= 80 else text[:79] + "…"), ""
            cells.append(f"<td{cls}>{html_text(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="cm-sum"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def final_bundle(labels: Sequence[str], results: Sequence, rows: List[dict], columns: Sequence[str],
                 fmt: str = "markdown", title: Optional[str] = None) -> dict:
    """The finished grid: the columns, the summary table, the divergence view and, with logprobs, every
    answer's probability line on one plot. Static HTML plus a plain-text twin."""
    out = [STYLE, '<div class="cm-out cm-grid-final">']
    if title:
        out.append(f'<div class="cm-col-foot cm-grid-title">{html_text(title)}</div>')
    out.append(f'<div class="cm-grid" style="{_columns_style(len(results))}">'
               + "".join(_final_column(label, r, fmt) for label, r in zip(labels, results)) + "</div>")
    out.append(table_html(rows, columns))
    done = [(label, r) for label, r in zip(labels, results) if r.status != "error" and r.text.strip()]  # answers
    silent = sum(1 for r in results if r.status != "error" and not r.text.strip())
    silent_line = f"({silent} of {len(results)} gave no answer: not compared)" if silent and len(done) >= 2 else ""
    if len(done) >= 2:
        out.append(divergence_html([lab for lab, _ in done], [r.text for _, r in done]))
    if silent_line:
        out.append(f'<div class="cm-foot">{silent_line}</div>')
    if any(r.token_logprobs for r in results):
        out.append(prob_lines_svg(list(labels), [r.token_logprobs for r in results]))
    out.append("</div>")
    text = []
    for label, r in zip(labels, results):
        note = status_note(r)
        thought = (f"(reasoning, {len(r.reasoning):,} characters) {plain(r.reasoning[-300:])}\n" if r.reasoning
                   else "")
        text.append(f"── {plain(label)} ──\n{thought}{plain(r.text)}" + (f"\n{note}" if note else "")
                    + f"\n── {col_footer(r)}")
    if len(done) >= 2:
        text.append(divergence_text([lab for lab, _ in done], [r.text for _, r in done]))
    if silent_line:
        text.append(silent_line)
    return {"text/html": "".join(out), "text/plain": "\n\n".join(text)}


def summary_line(texts: Sequence[str]) -> str:
    return agreement_line(texts)
