"""Showing a Result in a notebook: a live view while it streams, then a safe final render with a footer.

While streaming, the cell shows plain text (the front end escapes it) through one display handle,
updated at most `rate` times a second: the number of display messages depends on elapsed time, not on
the token count (at most 1 + 2 x rate per second of stream, counting the ones that open and close it),
and each carries at most the last LIVE_CHARS characters, so the bytes sent are bounded by time too.
At the end that handle is emptied and the final render is displayed as its own output, so saved
notebooks, nbval (which ignores display updates) and live front ends all hold the same outputs. The
final render is Markdown with raw HTML disabled (shown as text), no images (a remote image in model
output can leak data) and no `javascript:` links.
"""
from __future__ import annotations

import html
import json
import re
import sys
import time
from typing import Optional

from .._wire import LOCAL_BASE_URL
from ._escape import plain

FORMATS = ("markdown", "text", "code", "json")
LIVE_CHARS = 16_384  # a live view shows at most the answer's last 16 Ki characters
# The browser re-renders a live view whole at each update, so its cost is bytes per second, not updates:
# short views update at the full rate, a long tail less often (16 Ki characters: 4 times a second).
LIVE_BYTES_PER_SECOND = 65_536
_md = None

STYLE = ("<style>.cm-out{font-family:var(--jp-content-font-family,inherit)}"
         ".cm-foot{margin-top:.4em;font-size:85%;color:var(--jp-ui-font-color2,#666);"
         "font-family:var(--jp-code-font-family,monospace)}.cm-warn{color:var(--jp-warn-color0,#b35c00)}"
         ".cm-err{color:var(--jp-error-color1,#c62828)}.cm-out pre{white-space:pre-wrap}</style>")


def live_text(text: str) -> str:
    """What a live view shows while a stream runs: the text, or its tail under a note of what is above.

    Each update replaces the whole view, so sending all the text every time would make the bytes grow
    with time x length; a bounded tail keeps them bounded by time. The final render shows everything."""
    if len(text) <= LIVE_CHARS:
        return text
    cut = len(text) - LIVE_CHARS
    return f"[… {cut:,} characters above; all of it shows when the answer ends]\n{text[cut:]}"


def live_view(r) -> str:
    """A call's live view: the answer's tail, and while a model is still only reasoning, its reasoning."""
    if r.reasoning and not r.text:
        return "Reasoning…\n" + live_text(r.reasoning)
    if r.reasoning:
        return (f"(reasoned for {len(r.reasoning):,} characters: shown above the answer when it ends)\n"
                + live_text(r.text))
    return live_text(r.text)


def markdown_html(text: str) -> str:
    global _md
    if _md is None:
        from markdown_it import MarkdownIt
        _md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")
    return _md.render(plain(text))


def body_html(text: str, fmt: str = "markdown") -> str:
    if fmt == "markdown":
        return markdown_html(text)
    if fmt == "json":
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
        return f'<pre><code class="language-json">{html.escape(plain(text))}</code></pre>'
    if fmt == "code":
        return f"<pre><code>{html.escape(plain(_strip_fence(text)))}</code></pre>"
    return f"<pre>{html.escape(plain(text))}</pre>"


def _strip_fence(text: str) -> str:
    m = re.fullmatch(r"\s*```[^\n]*\n(.*?)\n?```\s*", text, re.S)
    return m.group(1) if m else text


def footer_parts(r) -> list:
    """The stats line: model, tokens, TTFT, tokens/s, server time, finish reason, backend, status."""
    u = r.usage
    parts = [r.model or "?"]
    if r.model_source:
        parts[0] += f" ({r.model_source})"
    if u is not None and u.prompt_tokens is not None:
        cached = f" ({r.cached_tokens:,} cached)" if r.cached_tokens else ""
        parts.append(f"{u.prompt_tokens:,}{cached} → {r.completion_tokens or 0:,} tokens")
    elif r.completion_tokens:
        parts.append(f"{r.completion_tokens:,} tokens")
    if r.reasoning_tokens:
        parts.append(f"{r.reasoning_tokens:,} reasoning")
    accepted, rejected = r.prediction_tokens
    predicted = r.ask is not None and "prediction" in r.ask.extra  # servers send zeros with no prediction
    if predicted and (accepted is not None or rejected is not None):
        parts.append(f"prediction: {accepted or 0:,} accepted, {rejected or 0:,} rejected")
    if r.ttft is not None:
        parts.append(f"TTFT {r.ttft * 1000:,.0f} ms")
    if r.tokens_per_second:  # a stream's rate is the client's own; otherwise say whose it is
        basis = "" if r.rate_basis == "stream" else f" ({r.rate_basis})"
        parts.append(f"{r.tokens_per_second:,.0f} tok/s{basis}")
    if r.streamed is False and r.duration is not None:
        parts.append(f"whole call {r.duration:.2f} s (not streamed)")
    if r.time_info is not None and r.time_info.total_time is not None:
        parts.append(f"server {r.time_info.total_time:.3f} s")
    if r.cost_usd is not None:
        parts.append(f"${r.cost_usd:,.6f}")
    if r.finish_reason:
        parts.append("finish: length (cut at max tokens)" if r.finish_reason == "length" else f"finish: {r.finish_reason}")
    if r.backend and "api.cerebras.ai" not in r.backend:
        parts.append(f"via {re.sub(r'^https?://', '', r.backend)}")  # whoever answered, when not Cerebras
    return parts


def status_note(r) -> Optional[str]:
    """What ended a call that did not end well (plain words: glyphs such as ⏹ are missing from common fonts)."""
    if getattr(r, "tool_note", None):  # a tool loop that stopped before an answer says why
        return r.tool_note
    if r.status == "interrupted":
        if r.text:
            return "Interrupted: partial answer kept."
        return ("Interrupted while the model was reasoning: its reasoning so far is kept." if r.reasoning
                else "Interrupted before any answer.")
    if r.status == "error":
        return f"Error: {r.error}"
    if r.reasoning and not r.text and not r.tool_calls:  # gpt-oss can spend every token thinking
        cut = " (cut at max tokens)" if r.finish_reason == "length" else ""
        return (f"The model reasoned but gave no answer{cut}: raise --max-tokens or lower --reasoning-effort; "
                "its reasoning is above.")
    return None


def final_bundle(r, fmt: str = "markdown", error_note: bool = True) -> dict:
    """The MIME bundle of a finished Result: safe HTML plus a plain-text twin.

    `error_note=False` when the caller raises the error itself (the magic): it is said once, not twice."""
    foot = " · ".join(footer_parts(r))
    note = status_note(r) if error_note or r.status != "error" else None
    out = [STYLE, '<div class="cm-out">']
    if r.reasoning:
        size = f"{r.reasoning_tokens:,} tokens" if r.reasoning_tokens else f"{len(r.reasoning):,} characters"
        out.append(f'<details class="cm-reasoning"><summary>reasoning ({size})</summary><pre>'
                   f"{html.escape(plain(r.reasoning))}</pre></details>")
    if r.tool_calls:  # the calls it made (a tool loop's final answer: every step), collapsed
        from ._steps import steps_html
        out.append(steps_html(r.tool_calls))
    if r.text or not r.tool_calls:
        out.append(body_html(r.text, fmt))
    if r.raw_tokens:
        out.append(f"<details><summary>token ids ({len(r.raw_tokens):,})</summary><pre>"
                   f"{html.escape(json.dumps(r.raw_tokens))}</pre></details>")
    if r.token_logprobs or r.reasoning_logprobs:
        out.append(logprobs_html(r))
    if note:
        css = "cm-err" if r.status == "error" else "cm-warn"
        out.append(f'<div class="{css}">{html.escape(note)}</div>')
    warn = ' class="cm-warn"' if r.finish_reason == "length" else ""
    out.append(f'<div class="cm-foot"><span{warn}>{html.escape(foot)}</span></div></div>')
    text = plain(r.text) + ("\n" + note if note else "") + "\n── " + foot
    if r.tool_calls:
        from ._steps import step_line
        text = "\n".join(step_line(s) for s in r.tool_calls) + "\n" + text
    if r.raw_tokens:
        text += f"\n── token ids: {json.dumps(r.raw_tokens)}"
    if r.token_logprobs or r.reasoning_logprobs:
        text += "\n── " + logprobs_summary(r)
    return {"text/html": "".join(out), "text/plain": text}


def answer_label(r) -> str:
    """The answer heat-map's label. A server may count the end-of-text token in usage but give it no
    logprob (the local model does): the footer then says one token more than the heat-map, and this says why."""
    counted = getattr(r, "completion_tokens", None)  # (a view of a history row has no usage)
    if counted is None or getattr(r, "usage", None) is None:
        return "answer tokens"
    extra = counted - (r.reasoning_tokens or 0) - len(r.token_logprobs)
    if extra > 0 and r.finish_reason == "stop" and r.endpoint == "chat":
        return f"answer tokens (+{extra} end-of-text token{'s' if extra > 1 else ''}, no logprob)"
    return "answer tokens"


def logprobs_summary(r) -> str:
    """The one-line logprobs summary that repr(r), a terminal cell and the plain-text render all show."""
    from ._heatmap import summary_text
    return summary_text(r.token_logprobs, answer_label(r), reasoning=r.reasoning_logprobs or None)


def logprobs_html(r, scale: str = "absolute", top: int = 5, reasoning: bool = True) -> str:
    """The answer's heat-map, then the reasoning's in its own collapsed section under its one-line numbers:
    two summaries, so the answer's counts only answer tokens."""
    from ._heatmap import heatmap_html, section_html
    parts = []
    if r.token_logprobs:
        parts.append(heatmap_html(r.token_logprobs, scale=scale, top=top, label=answer_label(r)))
    if reasoning and r.reasoning_logprobs:
        parts.append(section_html(r.reasoning_logprobs, "reasoning tokens", scale=scale, top=top))
    return "".join(parts)


class CellRenderer:
    """Observer that streams a Result into the current cell through one display handle."""

    def __init__(self, fmt: str = "markdown", rate: float = 15.0, stream: bool = True, wrap=None):
        self.fmt, self.rate, self.stream = fmt, max(rate, 0.1), stream
        self.wrap = wrap  # wrap(result, bundle) -> bundle: the final render as a live view (the fork heat-map)
        self.interval = 1.0 / self.rate
        self.handle = None
        self._last = self._opened = 0.0
        self._sent = 0
        self._note: Optional[str] = None
        self._answering = False
        self._terminal = _is_terminal()

    def note(self, text: str) -> None:
        """A line about the call, not the answer (the local model loading): shown while it runs, then gone."""
        self._note = text

    def start(self, result) -> None:
        note, self._note = self._note, None  # said once: a tool loop's next request reuses this renderer
        if self._terminal:
            if note:
                sys.stdout.write(plain(note) + "\n")
            return
        if not self.stream and not note:
            return
        from IPython.display import display
        # the view opens empty, as the saved notebook holds it once emptied (nbval compares outputs as they
        # were created, and ignores updates); a note is an update, so it never stays in the saved output
        self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        self._opened, self._sent = time.monotonic(), 1
        if note:
            self.handle.update({"text/plain": note}, raw=True)

    def update(self, result, new: str) -> None:
        if self._terminal:
            if result.new_reasoning:  # dim, so the answer stands apart from the thinking
                sys.stdout.write(_dim(plain(result.new_reasoning)))
            if new:
                if result.reasoning and not self._answering:
                    sys.stdout.write("\n\n")
                self._answering = True
                sys.stdout.write(plain(new))
            if new or result.new_reasoning:
                sys.stdout.flush()
            return
        now = time.monotonic()
        if self.handle is None or not (new or result.new_reasoning):
            return
        shown = min(len(result.text or result.reasoning or ""), LIVE_CHARS)  # what live_view will send
        if now - self._last < max(self.interval, shown / LIVE_BYTES_PER_SECOND):
            return
        # The first text shows at once; later ones also keep the whole cell, with the two messages that
        # close it, within 1 + 2 x rate messages per second (short, fast streams otherwise overshoot).
        if self._sent == 1 or self._sent + 3 <= 1 + 2 * self.rate * (now - self._opened):
            self._last = now
            self._sent += 1
            self.handle.update({"text/plain": live_view(result)}, raw=True)

    def finish(self, result) -> None:
        if self._terminal:
            if result.status == "error" and not result.text:
                return
            note = status_note(result) if result.status != "error" else None
            summary = ("\n── " + logprobs_summary(result)) if result.token_logprobs or result.reasoning_logprobs else ""
            sys.stdout.write(("" if self.stream else plain(result.text)) + ("\n" + note if note else "")
                             + "\n── " + " · ".join(footer_parts(result)) + summary + "\n")
            return
        from IPython.display import display
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
        if result.status == "error" and not result.text:
            return  # nothing arrived: the raised error's one line says it all
        bundle = final_bundle(result, self.fmt, error_note=False)
        display(self.wrap(result, bundle) if self.wrap is not None else bundle, raw=True)


def _shell():
    """The running IPython shell, or None (a plain script); IPython itself is not imported for this."""
    return sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()


def _is_terminal() -> bool:
    return type(_shell()).__name__ == "TerminalInteractiveShell"


def _in_ipython() -> bool:
    """False in a plain Python script, where IPython's display() would print the bundle's dict."""
    return _shell() is not None


def _dim(text: str) -> str:
    """Dim text in a colour terminal; as it is when piped or under `--colors=NoColor`."""
    colors = str(getattr(_shell(), "colors", "")).lower()
    if not getattr(sys.stdout, "isatty", lambda: False)() or colors in ("nocolor", "no_color"):
        return text
    return f"\x1b[2m{text}\x1b[0m"


def dry_run_bundle(request: dict, estimate: Optional[dict] = None) -> dict:
    """--dry-run: the request as readable JSON and as the equivalent curl command (the key as an environment
    variable, never its value), with the JSON itself for front ends that show a tree; then the estimate of
    tokens, rate-limit charge and cost."""
    body = json.dumps(request["json"], indent=2, ensure_ascii=False)
    headers = {k: v for k, v in request["headers"].items() if k.lower() not in ("authorization", "accept", "user-agent")}
    curl = [f"curl -sS {_sh(request['url'])}"]
    if "Authorization" in request["headers"]:
        curl.append('-H "Authorization: Bearer $CEREBRAS_API_KEY"')
    curl += [f"-H {_sh(f'{k}: {v}')}" for k, v in headers.items()] + ["-H 'Content-Type: application/json'",
                                                                      f"-d {_sh(json.dumps(request['json'], ensure_ascii=False))}"]
    curl_text = " \\\n  ".join(curl)
    head = f"{request['method']} {request['url']}"
    guess = _estimate_line(estimate) if estimate else ""
    if request["url"].startswith(LOCAL_BASE_URL):  # answered in-process: no address a curl could reach
        head += " (the local model, in this kernel: no HTTP server)"
        tail, as_curl = "", ""
    else:
        tail = f"\n\n# the same request with curl:\n{curl_text}"
        as_curl = f'<details><summary>as curl</summary><pre>{html.escape(curl_text)}</pre></details>'
    text = f"{head}\n{body}{tail}" + (f"\n\n# {guess}" if guess else "")
    page = (f'{STYLE}<div class="cm-out"><div class="cm-foot">dry run: nothing was sent · {html.escape(head)}</div>'
            f'<pre><code class="language-json">{html.escape(body)}</code></pre>{as_curl}'
            + (f'<div class="cm-foot">{html.escape(guess)}</div>' if guess else "") + "</div>")
    return {"text/plain": text, "text/html": page, "application/json": request}


def _estimate_line(e: dict) -> str:
    """About this request before it is sent: tokens, the rate-limit charge, the most it can cost."""
    parts = [f"estimate: ≈{e['prompt_tokens']:,} prompt tokens (4 characters a token)"]
    if e.get("max_tokens"):
        whose = " (the model's maximum: no --max-tokens)" if e.get("from_catalogue") else ""
        parts.append(f"at most {e['max_tokens']:,} completion tokens{whose}")
        parts.append(f"rate-limit charge ≈{e['charge']:,} tokens (prompt + max tokens, charged up front)")
    if e.get("cost_usd") is not None:
        parts.append(f"at most ${e['cost_usd']:,.6f}")
    return " · ".join(parts)


def _sh(text: str) -> str:
    import shlex
    return shlex.quote(text)


def show(result, fmt: str = "markdown") -> None:
    """Display a finished Result (used by Result._ipython_display_)."""
    from IPython.display import display
    display(final_bundle(result, fmt), raw=True)
