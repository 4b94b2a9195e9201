"""The playground's tool loop: the Tools field's functions, each step listed in the panel, and Approve/Deny.

The panel runs on a worker thread, so the kernel is free while a loop waits: a call to approve is put in
the `pending_call` trait, the front end shows it with two buttons, and their message (or Stop) answers it.
A refusal goes back to the model as the call's result, as in a cell.
"""
from __future__ import annotations

import json
import threading

from .. import _errors as E

WAIT_TICK = 0.1   # seconds between looks at Stop while a call waits for its answer


def names(text: str) -> tuple:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def step_view(step) -> dict:
    """A step as the panel lists it (model text: the JavaScript writes it with textContent)."""
    said = step.error if step.error else (step.content or "")
    return {"call": step.call_text[:300], "status": step.status, "said": " ".join(said.split())[:300],
            "ms": None if step.duration is None else round(step.duration * 1000, 1), "request": step.request}


def steps_of(result) -> list:
    """Every step of a finished run, then how the loop ended if not with an answer."""
    out = [step_view(s) for s in result.tool_calls]
    return out + ([{"note": result.tool_note}] if result.tool_note else [])


class Approval:
    """One call waiting for the panel's Approve or Deny."""

    def __init__(self, panel, cancel):
        self.panel, self.cancel = panel, cancel
        self._lock = threading.Lock()
        self._waiting = None  # (call id, event, [answer])

    def __call__(self, step) -> bool:
        event, box = threading.Event(), [False]
        key = step.ensure_id()
        with self._lock:
            self._waiting = (key, event, box)
        self.panel.pending_call = {"id": key, "call": step.call_text[:500],
                                   "arguments": json.dumps(step.arguments, ensure_ascii=False)[:2000]}
        try:
            while not event.wait(WAIT_TICK):
                if self.cancel is not None and self.cancel.is_set():
                    break  # Stop: the call is refused and the loop ends
        finally:
            with self._lock:
                self._waiting = None
            self.panel.pending_call = {}
        return box[0]

    def answer(self, key, ok: bool) -> bool:
        """The front end's (or a script's) answer; False when no call with that id is waiting."""
        with self._lock:
            waiting = self._waiting
            if waiting is None or (key is not None and str(key) != waiting[0]):
                return False
            waiting[2][0] = bool(ok)
            waiting[1].set()
            return True


def run_loop(panel, gen: int, ask, observer, cancel):
    """The loop for a panel run (None when its tools or options are refused: the panel says why)."""
    from ..core._tools import run_tools
    if ask.approve:
        panel._approval = Approval(panel, cancel)
        ask = ask.replace(approve=panel._approval)
    try:
        return run_tools(panel.session, ask, observers=[observer], errors="return", cancel=cancel)
    except E.ParameterError as exc:
        panel._publish(gen, error=str(exc), status="error", running=False)
        return None


class StepsObserver:
    """The part of the panel's observer that lists steps as they run and end."""

    def tool_started(self, step) -> None:
        self._steps = [s for s in getattr(self, "_steps", []) if s is not step] + [step]
        self.widget._publish(self.gen, tool_steps=[step_view(s) for s in self._steps])

    def tool_done(self, step) -> None:
        self.tool_started(step)
