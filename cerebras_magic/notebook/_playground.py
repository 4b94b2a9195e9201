"""The playground panel: parameters, a live stream, Stop, stats, logprobs and the panel's runs.

Traitlets are the single source of truth (js/playground.js only renders them and sends actions). The
panel's fields are the parameters of core/_params.py (the JavaScript receives that list, bounds and the
stop-string escapes as the `spec` trait) and start from the session's defaults, as a bare cell does. A run
is the Ask its fields describe, sent through `Session.run` on a worker thread: the kernel stays free while
it streams, and Stop closes the stream at once. Chat mode continues a named conversation of the session,
so the copied cell (`--chat NAME`) continues it too. Each run has a generation number; a run that is no
longer current never writes into the panel, so rapid Run/Stop/Run cannot interleave two answers.
"""
from __future__ import annotations

import functools
import itertools
import pathlib
import threading
import time
from typing import Optional

import anywidget
import traitlets as T

from ..core import Ask, Cancel, default_session
from ..core._params import BY_NAME, PARAMS, spec_for_js
from ..display import live_text
from ._paneltools import StepsObserver, names, run_loop, steps_of

STOP_WAIT = 1.0  # seconds a new run waits for the one it replaces to end
# the fields a run message carries: the panel's parameters (logprobs as a checkbox plus its top K), then
# what picks the request's shape
FIELDS = ("prompt", *(p.name for p in PARAMS if p.panel), "top_k", "endpoint", "response_format", "schema_name",
          "chat_mode", "tools", "approve")
_panels = itertools.count(1)


def _asset(name: str) -> pathlib.Path:
    """js/ sits beside the package in a checkout (editable install) and inside it in a wheel."""
    here = pathlib.Path(__file__).resolve().parent.parent
    for path in (here / "js" / name, here.parent / "js" / name):
        if path.exists():
            return path
    raise FileNotFoundError(f"cerebras_magic is missing its front-end file {name}; reinstall the package")


def _bounded(kind, name: str, **kw):
    """A trait for a parameter, bounded as the API bounds it; None means "the session's default"."""
    p = BY_NAME[name]
    bounds = {k: v for k, v in (("min", p.lo), ("max", p.hi)) if v is not None}
    return kind(None, allow_none=True, **bounds, **kw).tag(sync=True)


class Playground(anywidget.AnyWidget):
    """`cm.Playground()`: try parameters without writing flags, then copy the result as a %%cerebras cell."""

    _esm = _asset("playground.js")
    _css = _asset("playground.css")

    spec = T.Dict().tag(sync=True)             # the parameter list and escapes, for the JavaScript
    prompt = T.Unicode("").tag(sync=True)
    system = T.Unicode("").tag(sync=True)
    model = T.Unicode("").tag(sync=True)
    models = T.List(T.Unicode()).tag(sync=True)
    temperature = _bounded(T.Float, "temperature")
    top_p = _bounded(T.Float, "top_p")
    max_tokens = _bounded(T.Int, "max_tokens")
    min_tokens = _bounded(T.Int, "min_tokens")
    seed = T.Int(None, allow_none=True).tag(sync=True)
    stop = T.List(T.Unicode(), maxlen=BY_NAME["stop"].max_items).tag(sync=True)
    logprobs = T.Bool(False).tag(sync=True)
    top_k = T.Int(5, min=BY_NAME["logprobs"].lo, max=BY_NAME["logprobs"].hi).tag(sync=True)
    endpoint = T.Enum(("chat", "completion"), "chat").tag(sync=True)
    response_format = T.Enum(("text", "json", "schema"), "text").tag(sync=True)
    schema_name = T.Unicode("").tag(sync=True)
    chat_mode = T.Bool(False).tag(sync=True)
    conversation_name = T.Unicode("").tag(sync=True)
    tools = T.Unicode("").tag(sync=True)             # notebook functions the model may call: "get_weather, convert"
    approve = T.Bool(False).tag(sync=True)           # ask (Approve/Deny) before each tool call

    running = T.Bool(False).tag(sync=True)
    status = T.Unicode("idle").tag(sync=True)
    output = T.Unicode("").tag(sync=True)
    reasoning = T.Unicode("").tag(sync=True)
    stats = T.Dict().tag(sync=True)
    error = T.Unicode("").tag(sync=True)
    logprobs_html = T.Unicode("").tag(sync=True)
    conversation = T.List(T.Dict()).tag(sync=True)
    runs = T.List(T.Dict()).tag(sync=True)
    cell = T.Unicode("").tag(sync=True)
    write_back = T.Unicode("").tag(sync=True)  # `%%cerebras --panel`: the cell text "Write back" puts in its cell
    updates = T.Int(0).tag(sync=True)
    tool_steps = T.List(T.Dict()).tag(sync=True)     # the run's tool calls so far (_paneltools.step_view)
    pending_call = T.Dict().tag(sync=True)           # a call waiting for Approve/Deny ({} when none)
    shown_run = T.Unicode("").tag(sync=True)         # the id of the run whose answer the panel shows
    fork_pieces = T.List(T.Dict()).tag(sync=True)    # its heat-map's tokens and what each can fork into

    def __init__(self, *, session=None, update_rate: float = 20.0, load_models: bool = True, more=None, fill=None,
                 keep=None, **kwargs):
        self.session = session or default_session()
        self._more = more or {"params": {}, "extra": {}, "backend": None}  # see from_ask
        self._fill, self._keep = fill, keep
        defaults = {name: value for name, value in self.session.defaults.items()
                    if name in FIELDS and value is not None}
        if defaults.get("stop") is not None:
            defaults["stop"] = list(defaults["stop"])
        n = next(_panels)
        kwargs.setdefault("conversation_name", "playground" if n == 1 else f"playground-{n}")
        super().__init__(**{**defaults, **kwargs})
        self.spec = spec_for_js() | {"fields": list(FIELDS)}
        self._interval = 1.0 / max(update_rate, 0.1)
        self._lock = threading.RLock()
        self._generation = 0
        self._cancel: Optional[Cancel] = None
        self._thread: Optional[threading.Thread] = None
        self._snapshots: dict = {}
        self._results: dict = {}   # run id -> its Result (a fork continues one)
        if not self.model:
            try:
                self.model = self.session.catalog.default_model(self.session.client())[0] or ""
            except Exception as exc:  # no backend yet: the panel still opens, and says why
                self.error = str(exc)
        if not self.models and self.model:
            self.models = [self.model]
        self.observe(self._refresh_cell, names=list(FIELDS) + ["conversation_name"])
        self._refresh_cell()
        self.on_msg(self._on_msg)
        if load_models:
            threading.Thread(target=self.refresh_models, daemon=True).start()

    @classmethod
    def from_ask(cls, ask: Ask, *, session=None, keep=(), fill=None, **kwargs) -> "Playground":
        """A panel holding a cell's request (`%%cerebras --panel`): its prompt and flags in the fields; what
        the panel has no field for (--reasoning-effort, --param, --backend, ...) is kept and sent as it was.
        `keep`: the cell's other words for its first line ("--panel", "-o VAR"), which "Write back" keeps;
        `fill`: fills the prompt's {name} fields when a run is sent (the cell keeps them as written)."""
        fields = {p.name: ask.params.get(p.name) for p in PARAMS if p.panel and p.name != "logprobs"}
        fields = {k: v for k, v in fields.items() if v is not None}
        fields["stop"] = list(fields.get("stop") or [])
        if ask.params.get("logprobs") is not None:
            fields.update(logprobs=True, top_k=ask.params["logprobs"])
        fields.update(prompt=ask.prompt if isinstance(ask.prompt, str) else ask.prompt_text, endpoint=ask.endpoint,
                      response_format="json" if ask.json else "schema" if ask.schema is not None else "text",
                      schema_name=ask.schema if isinstance(ask.schema, str) else "", chat_mode=bool(ask.conversation))
        if ask.conversation:
            fields["conversation_name"] = ask.conversation
        more = {"params": {p.name: v for p in PARAMS if not p.panel and (v := ask.params.get(p.name)) is not None},
                "extra": dict(ask.extra), "backend": ask.backend}
        return cls(session=session, more=more, fill=fill, keep=list(keep), **{**fields, **kwargs})

    # -- the request ----------------------------------------------------------------------------
    def ask(self, settings: Optional[dict] = None) -> Ask:
        """The Ask the panel's fields describe (its copied cell describes the same one)."""
        s = settings or self._settings()
        params = {p.name: s.get(p.name) for p in PARAMS if p.panel}
        params.update(model=s["model"] or None, system=s["system"] or None, stop=list(s["stop"]) or None,
                      logprobs=s["top_k"] if s["logprobs"] else None)
        return Ask(prompt=s["prompt"], endpoint=s["endpoint"], params={**self._more["params"], **params},
                   json=s["response_format"] == "json", extra=self._more["extra"], backend=self._more["backend"],
                   schema=s["schema_name"] if s["response_format"] == "schema" else None,
                   conversation=s["conversation_name"] if s["chat_mode"] else None, source="widget",
                   tools=names(s.get("tools", "")), approve=True if s.get("approve") else None)

    def _settings(self) -> dict:
        snap = {name: _copy(getattr(self, name)) for name in FIELDS}
        snap["conversation_name"] = self.conversation_name
        return snap

    # -- actions --------------------------------------------------------------------------------
    def run(self, wait: bool = False) -> None:
        """Start a run with the current settings; a run still going is stopped first.

        Its thread gets up to STOP_WAIT seconds to end (a stopped stream ends in milliseconds; one still
        waiting for its first byte ends when that comes), so its row and its entry in `runs` come first."""
        self._start(self._work, self._settings(), wait)

    def fork(self, position: int, token: str, wait: bool = False) -> None:
        """Fork the answer the panel shows at token `position` with `token` (one of its alternatives), as
        choosing it in the heat-map does: the branch is the panel's next run (and a history row)."""
        parent = self._results.get(self.shown_run)
        if parent is None or not self.fork_pieces:
            self.error = "no answer to fork here: run one with Logprobs on, then pick a token's alternative"
            return
        self._start(functools.partial(self._fork_work, parent=parent, position=position, token=token),
                    self._snapshots[parent.id][0], wait)

    def _start(self, target, snapshot: dict, wait: bool) -> None:
        previous = self._thread
        self.cancel()
        if previous is not None and previous is not threading.current_thread():
            previous.join(STOP_WAIT)
        with self._lock:
            self._generation += 1
            gen, cancel = self._generation, Cancel()
            self._cancel = cancel
            with self.hold_sync():
                self.set_trait("running", True)
                self.status, self.output, self.reasoning, self.error = "running", "", "", ""
                self.logprobs_html, self.stats, self.updates = "", {"model": snapshot["model"]}, 0
                self.tool_steps, self.pending_call, self.shown_run, self.fork_pieces = [], {}, "", []
        thread = threading.Thread(target=target, args=(gen, cancel, snapshot), daemon=True,
                                  name=f"cerebras-playground-{gen}")
        self._thread = thread
        thread.start()
        if wait:
            thread.join()

    def cancel(self) -> None:
        """Stop the running answer at once (the panel's Stop button); its partial text stays, and its row says `interrupted`."""
        with self._lock:
            cancel = self._cancel
        if cancel is not None:
            cancel.set()

    def new_conversation(self) -> None:
        self.session.reset_conversations([self.conversation_name])
        self.conversation = []

    def refresh_models(self) -> None:
        try:
            ids = [m.id for m in self.session.client().models()]
        except Exception as exc:  # a dead panel is worse than a model list that did not load
            self.error = f"could not list models: {exc}"
            return
        if ids:
            self.models = ids if self.model in ids else [self.model] + ids

    def restore(self, run_id: str) -> None:
        """Put a past run back into the panel: its prompt and parameters, and its own answer, status,
        figures and heat-map (never the previous run's)."""
        found = self._snapshots.get(run_id)
        if found is None:
            self.error = f"no run {run_id!r} in this panel"
            return
        snap, shown = found
        self.cancel()
        with self._lock:
            self._generation += 1  # a run still streaming no longer writes into the panel
            with self.hold_sync():
                for name in FIELDS:
                    setattr(self, name, _copy(snap[name]))
                for name, value in {**shown, "running": False}.items():
                    setattr(self, name, value)

    def answer_call(self, call_id=None, ok: bool = True) -> bool:
        """Approve (or deny) the tool call waiting in the panel, as its buttons do; False if none waits."""
        approval = getattr(self, "_approval", None)
        return approval is not None and approval.answer(call_id, ok)

    def as_cell(self) -> str:
        return self.cell

    def _on_msg(self, widget, content, buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        actions = {"run": lambda: self._run_with(content.get("params")), "stop": self.cancel,
                   "new_conversation": self.new_conversation,
                   "refresh_models": lambda: threading.Thread(target=self.refresh_models, daemon=True).start(),
                   "restore": lambda: self.restore(str(content.get("id"))),
                   "approve": lambda: self.answer_call(content.get("id"), bool(content.get("ok"))),
                   "fork": lambda: self.fork(content.get("position"), content.get("token"))}
        if kind in actions:
            actions[kind]()

    def _run_with(self, params) -> None:
        """Run with the settings the panel shows. ipywidgets holds back a state update while an earlier one
        is unacknowledged, but sends custom messages at once, so the front end puts its settings in the run
        message itself; `set_state` applies them as if synced (no echo back to the panel)."""
        if isinstance(params, dict):
            settings = {k: v for k, v in params.items() if k in FIELDS}
            try:
                self.set_state(settings)
            except T.TraitError as exc:
                self.error = _refused(settings, exc)
                return
        self.run()

    # -- the worker -----------------------------------------------------------------------------
    def _work(self, gen: int, cancel: Cancel, snap: dict) -> None:
        observer = _PanelObserver(self, gen, self._interval)
        ask = self.ask(snap)
        if self._fill is not None:  # a --panel cell's {name} fields, filled as the cell would fill them
            try:
                ask = ask.replace(prompt=self._fill(ask.prompt))
            except Exception as exc:  # a {name} no longer defined: one line, as the cell says it
                self._publish(gen, error=str(exc).splitlines()[0], status="error", running=False)
                return
        if ask.tools or ask.approve:  # a tool loop (_paneltools.py): steps listed, Approve/Deny when asked
            result = run_loop(self, gen, ask, observer, cancel)
            if result is None:
                return
        else:
            result = self.session.run(ask, observers=[observer], errors="return", cancel=cancel)
        self._finish(gen, result, observer.updates, snap)

    def _fork_work(self, gen: int, cancel: Cancel, snap: dict, *, parent, position, token) -> None:
        from ..display._heatmap import fork_label
        observer = _PanelObserver(self, gen, self._interval)
        try:
            branch = parent.fork(position, token, session=self.session, observers=[observer], errors="return",
                                 cancel=cancel)
        except Exception as exc:  # a bad position or token, a model that cannot fork: its one line
            self._publish(gen, error=str(exc).splitlines()[0], status="error", running=False)
            return
        self._finish(gen, branch, observer.updates, snap, label=fork_label(parent.token_logprobs, position, token))

    def _publish(self, gen: int, **traits) -> bool:
        with self._lock:
            if gen != self._generation:
                return False
            with self.hold_sync():
                for name, value in traits.items():
                    setattr(self, name, value)
            return True

    def _finish(self, gen: int, result, updates: int, snap: dict, label: Optional[str] = None) -> None:
        from ..display import logprobs_html
        from ..display._heatmap import fork_pieces
        forkable = result.status == "ok" and result.ask is not None and bool(result.token_logprobs)
        entry = {"id": result.id, "prompt": label or _short(snap["prompt"]), "model": result.model, "status": result.status,
                 "tokens": result.completion_tokens, "tokens_per_second": _round(result.tokens_per_second)}
        shown = {"output": result.text, "reasoning": result.reasoning, "status": result.status,
                 "error": result.error if result.status == "error" else "", "stats": stats(result),
                 "tool_steps": steps_of(result),
                 "logprobs_html": logprobs_html(result) if result.token_logprobs or result.reasoning_logprobs else "",
                 "shown_run": result.id, "fork_pieces": fork_pieces(result.token_logprobs) if forkable else []}
        self._snapshots[result.id] = (snap, shown)
        self._results[result.id] = result  # what a fork of the shown answer continues
        with self._lock:
            self.runs = self.runs + [entry]
            traits = {**shown, "updates": updates, "running": False}
            if snap["chat_mode"]:
                traits["conversation"] = list(self.session.conversation(snap["conversation_name"]).messages)
            self._publish(gen, **traits)

    # -- the equivalent cell --------------------------------------------------------------------
    def _refresh_cell(self, change=None) -> None:
        self.cell = self.ask().to_cell()
        if self._keep is not None:  # the cell's first line with the words the panel does not set, then the body
            first, _, body = self.cell.partition("\n")
            if self._fill is not None:  # the cell fills {name} fields itself
                first = first.replace(" --no-interpolate", "")
            self.write_back = " ".join([first, *self._keep]) + "\n" + body


class _PanelObserver(StepsObserver):
    """Streams a run into the panel at a bounded rate (updates depend on time, not tokens)."""

    def __init__(self, widget: Playground, gen: int, interval: float):
        self.widget, self.gen, self.interval = widget, gen, interval
        self.updates, self._last = 0, 0.0

    def start(self, result) -> None:
        pass

    def update(self, result, new: str) -> None:
        now = time.monotonic()
        if (new or result.new_reasoning) and now - self._last >= self.interval:
            self._last = now
            if self.widget._publish(self.gen, output=live_text(result.text), reasoning=live_text(result.reasoning),
                                    stats=stats(result)):
                self.updates += 1

    def finish(self, result) -> None:
        pass


def stats(result) -> dict:
    """The figures the panel shows, live and final."""
    out = {"model": result.model, "backend": result.backend, "tokens": result.completion_tokens,
           "ttft_ms": _round(None if result.ttft is None else result.ttft * 1000),
           "elapsed_s": _round(time.perf_counter() - result.t_sent if result.t_done is None else result.duration),
           "finish_reason": result.finish_reason}
    tps = result.tokens_per_second
    if tps is None and result.t_first_token and result.completion_tokens:
        span = time.perf_counter() - result.t_first_token
        tps = result.completion_tokens / span if span > 0 else None
    out["tokens_per_second"] = _round(tps)
    if result.usage is not None:
        out.update(prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens)
    if result.time_info is not None:
        out.update(server_total_time=result.time_info.total_time, server_queue_time=result.time_info.queue_time)
    if result.ratelimit is not None:
        out.update(remaining_tokens=result.ratelimit.remaining_tokens_minute,
                   remaining_requests=result.ratelimit.remaining_requests_day)
    return {k: v for k, v in out.items() if v is not None}


def _refused(settings: dict, exc: T.TraitError) -> str:
    """One line naming the panel field whose value the kernel refused, and what it allows."""
    for name, value in settings.items():
        p = BY_NAME.get(name)
        if p is not None:
            try:
                p.check(value, "widget")
            except Exception as bad:  # ParameterError: the line the user should see
                return str(bad)
    return f"the panel sent a setting the kernel refused: {exc}".splitlines()[0]


def _copy(value):
    return list(value) if isinstance(value, list) else value


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"


def _round(x, digits: int = 3):
    return None if x is None else round(x, digits)
