"""The tool loop: a sequence of `Session.run` (or `arun`) calls on one conversation.

Each request is an ordinary call (one history row, the same observers). When its answer asks for tools,
the loop checks each call's arguments against the function's pydantic model, asks for approval if it was
asked to, runs the functions (concurrently when they are all `async`, else one after another, in the
model's order), and sends the results back as `tool` messages in the next request, built from the Ask as
sent: same model, parameters and tools, its messages grown by the assistant turn and the results. It ends
with an answer, a failed request, or after `max_steps` requests (default 8) with one line saying so. An
exception in a function, invalid arguments or a refusal is one line sent back to the model as the result.

Rows are linked: every request of a run has the run's `run_id` and its `step` number (1, 2, ...), the
calls its answer made (`tool_calls`) and the results it sent (`tool_results`), both clipped in the row
past _steps.HISTORY_CHARS (the `messages` and `request` columns keep everything, so a replay of the last
row sends the whole conversation again). Observers may have `tool_started(step)`, `tool_done(step)` and
`tool_loop_done(result)` besides start/update/finish: the cell and the panel show each step with them.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from typing import Iterable, Optional

from .. import _errors as E
from ._ask import Ask
from ._steps import content, error_line
from ._toolspec import Tool, ToolArgumentsError, resolve, tool_name

DEFAULT_MAX_STEPS = 8
REFUSED = "the user declined to run this call"


def with_tools(ask: Ask, namespace) -> Ask:
    """The Ask with every tool it names looked up in the notebook (a --dry-run shows their schemas)."""
    return ask.replace(tools=resolve(ask.tools, namespace, ask.source))


def run_tools(session, ask: Ask, *, observers: Iterable = (), errors: str = "raise", cancel=None,
              cell_id: Optional[str] = None):
    """Run the tool loop to its end; returns the last request's Result with every step in `tool_calls`."""
    loop = _Loop(session, ask, observers)
    ask = loop.first
    while True:
        r = session.run(ask, observers=loop.observers(), errors=errors, cancel=cancel, cell_id=cell_id)
        todo = loop.answered(r)
        if todo and not (cancel is not None and cancel.is_set()):
            loop.run_sync(todo, cancel)
        if todo is None or loop.stopped(cancel):
            return loop.final(r, errors)
        ask = loop.next_ask(r)


async def arun_tools(session, ask: Ask, *, observers: Iterable = (), errors: str = "raise",
                     cell_id: Optional[str] = None):
    """The async twin of run_tools, on `Session.arun` (async tools are awaited on the running loop)."""
    loop = _Loop(session, ask, observers)
    ask = loop.first
    while True:
        r = await session.arun(ask, observers=loop.observers(), errors=errors, cell_id=cell_id)
        todo = loop.answered(r)
        if todo:
            await loop.run_async(todo)
        if todo is None or loop.stopped(None):
            return loop.final(r, errors)
        ask = loop.next_ask(r)


class _Link:
    """An observer that stamps each request's Result with the run id, its step number and the results it
    sends, before its history row is written."""

    def __init__(self, run_id: str, step: int, results: list):
        self.run_id, self.step, self.results = run_id, step, results

    def start(self, r) -> None:
        r.run_id, r.step, r.tool_results = self.run_id, self.step, self.results

    def update(self, r, new) -> None:
        pass

    def finish(self, r) -> None:
        pass


class _Loop:
    """The loop's state between requests; the sync and async drivers above only move it along."""

    def __init__(self, session, ask: Ask, observers: Iterable):
        self.session, self.outer = session, list(observers)
        ask = with_tools(ask, session.user_namespace()) if any(isinstance(t, str) for t in ask.tools) else ask
        ask.check()  # the tool options, before anything is sent
        self.first = ask.replace(tools=resolve(ask.tools, {}, ask.source))
        self.tools = {tool_name(t): t for t in self.first.tools}
        self.max_steps = ask.max_steps or DEFAULT_MAX_STEPS
        self.approve = _approver(ask.approve)
        self.run_id, self.step, self.steps = uuid.uuid4().hex[:12], 0, []
        self.results: list = []   # each request's Result, for the loop's totals
        self.sent: list = []      # the steps whose results the next request sends
        self.note: Optional[str] = None
        self.interrupted = False

    def observers(self) -> list:
        return [_Link(self.run_id, self.step + 1, [s.row_result() for s in self.sent]), *self.outer]

    def answered(self, r) -> Optional[list]:
        """The calls to run now, or None when the loop is over."""
        self.step += 1
        self.results.append(r)
        own = list(r.tool_calls)
        for s in own:
            s.request = self.step
        self.steps += own
        if r.status != "ok" or not own:
            return None
        if not any(isinstance(t, Tool) for t in self.tools.values()):
            return None  # schemas only (no functions): the calls are the answer
        if self.step >= self.max_steps:
            for s in own:
                s.status, s.error = "not run", f"not run: the loop stopped at max steps ({self.max_steps})"
                self._tell("tool_done", s)
            wanted = ", ".join(dict.fromkeys(s.name for s in own))
            self.note = (f"Stopped after {self.step} request{'s' if self.step > 1 else ''} (max steps "
                         f"{self.max_steps}): the model still asked for {wanted}; raise "
                         f"{'--max-steps' if r.source == 'magic' else 'max_steps'} to let it go on.")
            return None
        return own

    def _ready(self, steps: list) -> list:
        """(step, tool, kwargs) for each call that may run; the others get their error line now."""
        ready = []
        for s in steps:
            tool = self.tools.get(s.name)
            try:
                if not isinstance(tool, Tool):
                    known = ", ".join(self.tools)
                    raise ToolArgumentsError(f"no tool named {s.name!r} (the tools are {known})" if tool is None
                                             else f"{s.name} has no Python function here (only its schema)")
                kwargs = tool.validate(s.raw_arguments)
            except ToolArgumentsError as exc:  # checked before the call: the function never sees them
                self._failed(s, f"invalid arguments for {s.name}: {exc}" if isinstance(tool, Tool) else str(exc))
                self._tell("tool_done", s)
                continue
            if self.approve is not None and not self.approve(s):
                s.status, s.error, s.content = "refused", REFUSED, f"Error: {REFUSED}"
                self._tell("tool_done", s)
                continue
            ready.append((s, tool, kwargs))
        return ready

    def run_sync(self, steps: list, cancel=None) -> None:
        try:
            ready = self._ready(steps)  # (Ctrl-C at an approval prompt stops the loop too)
            if len(ready) > 1 and all(t.is_async for _, t, _ in ready):
                for s, _, _ in ready:
                    self._tell("tool_started", s)
                _in_event_loop(lambda: asyncio.gather(*(self._acall(*job) for job in ready)))
                for s, _, _ in ready:
                    self._tell("tool_done", s)
                return
            for job in ready:
                if cancel is not None and cancel.is_set():
                    break
                self._tell("tool_started", job[0])
                self._call(*job)
                self._tell("tool_done", job[0])
        except KeyboardInterrupt:
            self._interrupt(steps)
        finally:
            self._close(steps)

    async def run_async(self, steps: list) -> None:
        try:
            ready = self._ready(steps)
            if all(t.is_async for _, t, _ in ready):
                for s, _, _ in ready:
                    self._tell("tool_started", s)
                await asyncio.gather(*(self._acall(*job) for job in ready))
                for s, _, _ in ready:
                    self._tell("tool_done", s)
                return
            for s, tool, kwargs in ready:
                self._tell("tool_started", s)
                if tool.is_async:
                    await self._acall(s, tool, kwargs)
                else:
                    await asyncio.to_thread(self._call, s, tool, kwargs)
                self._tell("tool_done", s)
        except (KeyboardInterrupt, asyncio.CancelledError):
            self._interrupt(steps)
            raise
        finally:
            self._close(steps)

    def _call(self, s, tool: Tool, kwargs: dict) -> None:
        s.status, started = "running", time.perf_counter()
        try:
            value = tool(**kwargs)
            if inspect.isawaitable(value):  # a sync callable that hands back a coroutine
                value = _in_event_loop(lambda: value)
            self._succeeded(s, value)
        except Exception as exc:
            self._failed(s, error_line(exc))
        finally:
            s.duration = time.perf_counter() - started

    async def _acall(self, s, tool: Tool, kwargs: dict) -> None:
        s.status, started = "running", time.perf_counter()
        try:
            value = tool(**kwargs)
            self._succeeded(s, await value if inspect.isawaitable(value) else value)
        except Exception as exc:
            self._failed(s, error_line(exc))
        finally:
            s.duration = time.perf_counter() - started

    @staticmethod
    def _succeeded(s, value) -> None:
        s.status, s.result, s.content = "ok", value, content(value)

    @staticmethod
    def _failed(s, line: str) -> None:
        s.status, s.error, s.content = "error", line, f"Error: {line}"

    def _interrupt(self, steps: list) -> None:
        self.interrupted = True
        for s in steps:
            if s.status in ("called", "running"):
                s.status, s.error = "interrupted", "stopped by the user"

    def _close(self, steps: list) -> None:
        """Every call gets a result message, so the conversation stays valid (an assistant turn's
        tool_calls must each be answered)."""
        for s in steps:
            if s.content is None:
                s.content = f"Error: {s.error or 'not run: the loop stopped'}"
        self.sent = steps

    def stopped(self, cancel) -> bool:
        if cancel is not None and cancel.is_set():
            self.interrupted = True
        return self.interrupted

    def next_ask(self, r) -> Ask:
        from ._call import assistant_turn
        sent = r.ask
        turns = sent.sent_messages() + [assistant_turn(r)] + [s.message() for s in self.sent]
        # "required" or a named tool holds for the first request only (as the OpenAI Agents SDK does): were
        # it sent again, the model could only ever call tools, and the loop would end at max steps
        forced = sent.get("tool_choice") not in (None, "auto", "none")
        return sent.replace(prompt=None, messages=tuple(turns), new=False,
                            params={"tool_choice": "auto"} if forced else {})

    def final(self, r, errors: str):
        if self.interrupted:
            self.note, r.status = f"Stopped by the user during step {self.step}.", "interrupted"
            self._remember_results(r)
        elif self.note is not None:
            self._close([s for s in r.tool_calls if s.content is None])
            self._remember_results(r)
        r.tool_calls, r.tool_note, r.loop = list(self.steps), self.note, loop_totals(self.results)
        for ob in self.outer:
            if hasattr(ob, "tool_loop_done"):
                ob.tool_loop_done(r)
        if self.interrupted and errors == "raise":
            raise KeyboardInterrupt
        return r

    def _remember_results(self, r) -> None:
        """A named chat that ends with calls not run still gets a result for each (else the next cell's
        request would be refused: every tool call needs its tool message)."""
        sent = r.ask
        if sent is not None and sent.conversation and self.sent:
            convo = self.session.conversation(sent.conversation)
            if convo.messages and convo.messages[-1].get("tool_calls"):
                convo.messages = convo.messages + [s.message() for s in self.sent]

    def _tell(self, what: str, step) -> None:
        for ob in self.outer:
            if hasattr(ob, what):
                getattr(ob, what)(step)


def loop_totals(results: list) -> dict:
    """What the whole loop took: the footer under its answer is the last request's alone."""
    costs = [r.cost_usd for r in results]
    return {"requests": len(results),
            "prompt_tokens": sum(r.usage.prompt_tokens or 0 for r in results if r.usage is not None),
            "completion_tokens": sum(r.completion_tokens or 0 for r in results),
            "cost_usd": sum(costs) if costs and None not in costs else None}


def _approver(approve):
    """None (run every call), the notebook's yes/no prompt (approve=True, --approve) or the user's function."""
    if approve is None or approve is False:
        return None
    if approve is True:
        from ..display._tools import ask_approval
        return ask_approval
    if not callable(approve):
        raise E.ParameterError(f"approve must be True or a function(step) -> bool, not {type(approve).__name__}")
    return approve


def _in_event_loop(make):
    """Await `make()` to completion from sync code. A kernel's own event loop may be running in this thread
    (IPython runs cells inside it), so then a fresh loop runs in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(make))
    box: dict = {}

    def work():
        try:
            box["value"] = asyncio.run(_awaited(make))
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
    thread = threading.Thread(target=work, name="cerebras-tools", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


async def _awaited(make):
    return await make()
