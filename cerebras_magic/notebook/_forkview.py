"""The cell's final answer with its heat-map, live: click a token, pick one of its alternatives, and the
answer forks there (`Result.fork`); the branch streams below and then shows beside the original, marked
where it departs.

An anywidget (js/heatmap.js; no imports, no CDN) whose traits are the single source of truth. Its mime
bundle also carries the static HTML of the answer (`text/html`), so a notebook saved without widget state
(notebooks/strip.py), nbconvert and nbval show the same answer and heat-map the static renderer gives. The
HTML and the branch views are built and escaped in Python (display/); the JavaScript writes every token
and alternative with textContent.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

import anywidget
import traitlets as T

from ..display._heatmap import fork_label, fork_pieces
from ._playground import _asset

class ForkView(anywidget.AnyWidget):
    """`%%cerebras --logprobs K` in a live kernel: the final render, whose heat-map tokens fork on click."""

    _esm = _asset("heatmap.js")
    _css = _asset("heatmap.css")

    html = T.Unicode("").tag(sync=True)          # the static final render (answer, footer, heat-map)
    pieces = T.List(T.Dict()).tag(sync=True)     # fork_pieces(): what each token can fork into
    status = T.Unicode("idle").tag(sync=True)    # idle | running | ok | error | interrupted
    branch = T.Unicode("").tag(sync=True)        # the branch's text while it streams
    branch_html = T.Unicode("").tag(sync=True)   # the original and the branch side by side, when it ends
    error = T.Unicode("").tag(sync=True)

    def __init__(self, result, html: str, *, session=None, update_rate: float = 10.0, **kwargs):
        super().__init__(html=html, pieces=fork_pieces(result.token_logprobs), **kwargs)
        self.result, self.session, self.branches = result, session, []
        self._interval, self._lock = 1.0 / max(update_rate, 0.1), threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self.on_msg(self._on_msg)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = self.html
        return bundle

    def _on_msg(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "fork":
            self.fork(content.get("position"), content.get("token"))

    def fork(self, position, token, wait: bool = False) -> None:
        """Fork the answer at `position` with `token`, on a worker thread (the kernel stays free)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self.error = "a fork is still running: wait for it to end"
                return
            self.status, self.branch, self.branch_html, self.error = "running", "", "", ""
            self._thread = threading.Thread(target=self._work, args=(position, token), daemon=True,
                                            name="cerebras-fork")
            self._thread.start()
        if wait:
            self._thread.join()

    def _work(self, position, token) -> None:
        from ..core import Comparison
        observer = _BranchObserver(self)
        try:
            branch = self.result.fork(position, token, session=self.session, observers=[observer], errors="return")
        except Exception as exc:  # a bad position or token, a model that cannot fork: its one line
            self.status, self.error = "error", str(exc).splitlines()[0]
            return
        self.branches.append(branch)
        label = fork_label(self.result.token_logprobs, position, token)
        grid = Comparison([self.result, branch], [{"model": self.result.model}, {"fork": position}], ["original", label])
        with self.hold_sync():
            self.branch = ""
            self.branch_html = grid.bundle()["text/html"]
            self.status = branch.status
            self.error = (branch.error or "") if branch.status == "error" else ""


class _BranchObserver:
    """Streams the branch into the view at a bounded rate (by time, not tokens)."""

    def __init__(self, view: ForkView):
        self.view, self._last = view, 0.0

    def start(self, result) -> None:
        pass

    def update(self, result, new: str) -> None:
        now = time.monotonic()
        if new and now - self._last >= self.view._interval:
            from ..display import live_text
            self._last = now
            self.view.branch = live_text(result.text)

    def finish(self, result) -> None:
        pass


def fork_bundle(result, bundle: dict, session=None) -> dict:
    """The final bundle of a cell with logprobs, as a ForkView where a kernel can run it (text/html kept)."""
    if not result.token_logprobs or result.status != "ok" or result.ask is None:
        return bundle
    view = ForkView(result, bundle["text/html"], session=session)
    data = view._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    return {**bundle, "application/vnd.jupyter.widget-view+json": data["application/vnd.jupyter.widget-view+json"]}
