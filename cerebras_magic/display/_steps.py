"""A tool step as the cell shows it: one collapsed line (mark, the call, what came back, how long it took)
over its arguments and result. Everything in it comes from the model or the tools, so all of it is escaped
(_escape.py). The live renderer is _tools.py; a finished Result's render (_cell.py) uses these too.
"""
from __future__ import annotations

import html
import json

from ._escape import html_text, plain

MARKS = {"ok": "✓", "error": "✕", "refused": "⊘", "not run": "–", "interrupted": "■", "called": "·",
         "running": "…"}
SHOWN_CHARS = 20_000   # a result longer than this is cut in the view (the history and the model get it whole)
TOOL_STYLE = ("<style>.cm-tool{margin:.15em 0;font-family:var(--jp-code-font-family,monospace);font-size:90%}"
              ".cm-tool summary{cursor:pointer}.cm-tool pre{margin:.2em 0 .4em 1.2em;white-space:pre-wrap}"
              ".cm-tool-label{color:var(--jp-ui-font-color2,#666)}.cm-tool-error .cm-tool-mark,"
              ".cm-tool-refused .cm-tool-mark{color:var(--jp-error-color1,#c62828)}"
              ".cm-tool-ok .cm-tool-mark{color:var(--jp-success-color1,#2e7d32)}</style>")


def took(seconds) -> str:
    if seconds is None:
        return ""
    if seconds < 0.001:
        return f"took {seconds * 1000:.2f} ms"
    return f"took {seconds * 1000:,.0f} ms" if seconds < 1 else f"took {seconds:,.2f} s"


def _said(step) -> str:
    """What came back, on one line: the result's text, or the error."""
    text = step.error if step.error else (step.content if step.content is not None else "")
    text = " ".join(str(text).split())
    return text if len(text) <= 100 else text[:99] + "…"


def _rest(step) -> str:
    """`get_weather(city='Paris') → {...} · took 3 ms`: the call, what came back, how long it took."""
    said, time = _said(step), took(step.duration)
    return step.call_text + (f" → {said}" if said else "") + (f" · {time}" if time else "")


def step_line(step) -> str:
    """`[1] ✓ get_weather(city='Paris') → {...} · took 3 ms` (1: the request that asked), terminal-safe."""
    head = f"[{step.request}] " if step.request else ""
    return plain(f"{head}{MARKS.get(step.status, '·')} {_rest(step)}")


def _pretty(text: str) -> str:
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        pass
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + f"\n… [{len(text) - SHOWN_CHARS:,} more characters: see the step's result]"
    return text


def step_html(step) -> str:
    """One step: a collapsed line over its arguments and what came back."""
    args = json.dumps(step.arguments, indent=2, ensure_ascii=False) if step.parsed else step.raw_arguments
    parts = [f'<details class="cm-tool cm-tool-{html_text(step.status).replace(" ", "-")}"><summary>'
             f'{f"[{step.request}] " if step.request else ""}'
             f'<span class="cm-tool-mark">{html.escape(MARKS.get(step.status, "·"))}</span> {html_text(_rest(step))}'
             f'</summary><div class="cm-tool-label">arguments</div><pre>{html_text(args)}</pre>']
    if step.error:
        parts.append(f'<div class="cm-tool-label">error</div><pre>{html_text(step.error)}</pre>')
    elif step.content is not None:
        parts.append(f'<div class="cm-tool-label">result</div><pre>{html_text(_pretty(step.content))}</pre>')
    parts.append("</details>")
    return "".join(parts)


def steps_html(steps) -> str:
    return TOOL_STYLE + "".join(step_html(s) for s in steps)
