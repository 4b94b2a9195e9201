"""Showing a tool loop: each step as it happens (views in _steps.py), then the answer as any cell streams it.

The cell's live view (one display handle for the whole loop) says what is running now; each step, once
done, is its own output, so a saved notebook (and nbval, which ignores display updates) holds every step.

Approval (`--approve`) asks with `input()`: a kernel answers it over the stdin channel while the cell
runs, in every front end (JupyterLab, Notebook 7, VS Code, Colab). Widget buttons could not be used
here: the kernel is busy running the cell, so their messages would only arrive after it ends. The panel,
which runs on a worker thread, has real buttons.
"""
from __future__ import annotations

import sys

from ._cell import STYLE, CellRenderer, body_html, footer_parts
from ._escape import html_text, plain
from ._steps import TOOL_STYLE, step_html, step_line

def step_bundle(step) -> dict:
    return {"text/html": STYLE + TOOL_STYLE + f'<div class="cm-out">{step_html(step)}</div>',
            "text/plain": step_line(step)}


def note_bundle(r) -> dict:
    """How a loop ended when it did not end with an answer: the note and the last request's footer."""
    note, foot = r.tool_note or "", " · ".join(footer_parts(r))
    return {"text/html": f'{STYLE}<div class="cm-out"><div class="cm-warn">{html_text(note)}</div>'
                         f'<div class="cm-foot">{html_text(foot)}</div></div>',
            "text/plain": plain(note) + "\n── " + plain(foot)}


def loop_bundle(totals: dict) -> dict:
    """The loop's totals under its answer, whose footer counts only the last request."""
    cost = f" · ${totals['cost_usd']:,.6f}" if totals.get("cost_usd") is not None else ""
    line = (f"the whole loop: {totals['requests']} requests · {totals['prompt_tokens']:,} → "
            f"{totals['completion_tokens']:,} tokens{cost}")
    return {"text/html": f'{STYLE}<div class="cm-out"><div class="cm-foot">{html_text(line)}</div></div>',
            "text/plain": "── " + plain(line)}


def ask_approval(step) -> bool:
    """The notebook's yes/no before a call (`--approve`, `approve=True`): only y or yes runs it."""
    try:
        answer = input(f"Run {plain(step.call_text)}? [y/N] ")
    except Exception as exc:  # IPython's StdinNotImplementedError: this front end cannot answer input()
        if type(exc).__name__ != "StdinNotImplementedError":
            raise
        from .._errors import ParameterError
        raise ParameterError("--approve: this front end cannot answer a yes/no prompt (no stdin, as under "
                             "nbconvert); pass approve=function from Python instead") from None
    return answer.strip().lower() in ("y", "yes")


class ToolCellRenderer(CellRenderer):
    """The cell's observer for a whole tool loop: one live view, each step as its own output when it is
    done, the answer streamed and rendered as any cell's."""

    def start(self, result) -> None:
        self._result = result
        if self.handle is None:
            super().start(result)
        self._calls = 0

    def _live(self, text: str) -> None:
        if self._terminal:
            return
        if self.handle is None:
            from IPython.display import display
            self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        self.handle.update({"text/plain": text}, raw=True)

    def update(self, result, new: str) -> None:
        super().update(result, new)
        if len(result.tool_calls) != self._calls:  # the calls stream in (whole, or in pieces)
            self._calls = len(result.tool_calls)
            self._live("asking for " + ", ".join(plain(s.name) for s in result.tool_calls if s.name) + "…")

    def finish(self, result) -> None:
        if result.status == "ok" and result.tool_calls:  # the loop goes on: its steps come next
            if result.text:
                self._show({"text/html": STYLE + f'<div class="cm-out">{body_html(result.text, self.fmt)}</div>',
                            "text/plain": plain(result.text)})
            return
        super().finish(result)
        self._ended = True

    def tool_started(self, step) -> None:
        self._live(f"running {plain(step.call_text)}…")

    def tool_done(self, step) -> None:
        self._show(step_bundle(step))
        self._live("")

    def tool_loop_done(self, r) -> None:
        if not getattr(self, "_ended", False):
            if self.handle is not None:
                self.handle.update({"text/plain": ""}, raw=True)
            if r.tool_note or r.status != "ok":
                self._show(note_bundle(r))
        if r.loop and r.loop["requests"] > 1:
            self._show(loop_bundle(r.loop))

    def _show(self, bundle: dict) -> None:
        if self._terminal:
            sys.stdout.write(bundle["text/plain"] + "\n")
            return
        from IPython.display import display
        display(bundle, raw=True)
