"""`Session`: the clients, history, defaults and named conversations of one notebook session, and `run`,
the one request path every front end shares: Ask -> Client -> Result -> observers -> History.

The magic, the panel, `cm.chat`/`cm.complete` and replays call `run`; whatever happens (a bad value, an
HTTP error, a broken stream, Ctrl-C, Stop) the call ends as exactly one history row. One default Session
sits behind the package's functions; tests and advanced users build their own.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import threading
import weakref
from typing import Any, Iterable, Mapping, Optional

from .. import _errors as E
from ..api._routing import BACKENDS, normalize_base_url
from ._ask import Ask, resolve_schema, with_system
from ._catalog import Catalog
from ._params import BY_NAME, PARAMS
from ._call import _Call, _aclose, _close
from ._result import Result

_UNSET = object()
CLIENT_OPTIONS = ("api_key", "base_url", "backend", "timeout", "max_retries")
ERRORS = ("raise", "return")


def _shown(key: str, front: str) -> str:
    return f"%config Cerebras.{key}" if front == "config" else f"{key}="


def check_option(key: str, value: Any, front: str = "configure") -> Any:
    """A client option as the clients want it, or one line naming it (a timeout of -1 used to surface as
    httpx's traceback at the next call)."""
    shown = _shown(key, front)
    if value is None:
        if key == "backend":
            raise E.ParameterError(f"{shown} must be one of {', '.join(BACKENDS)} (got None)")
        return None
    if key == "timeout":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise E.ParameterError(f"{shown} must be a number of seconds > 0 (got {value!r})")
        return float(value)
    if key == "max_retries":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise E.ParameterError(f"{shown} must be an integer ≥ 0 (got {value!r})")
        return value
    if key == "backend":
        if value not in BACKENDS:
            raise E.ParameterError(f"{shown} must be one of {', '.join(BACKENDS)} (got {value!r})")
        return value
    if not isinstance(value, str):
        raise E.ParameterError(f"{shown} must be a string (got {type(value).__name__})")
    if key == "base_url" and value:
        normalize_base_url(value)  # refuses credentials in the URL, without repeating it
        if not re.match(r"^https?://[^/\s]+", value):
            raise E.ParameterError(f"{shown} must be an http:// or https:// URL, e.g. https://api.cerebras.ai "
                                   f"(got {value!r})")
    return value


class Cancelled(Exception):
    """Raised inside a run that was stopped with `Cancel.set()`; ends as an `interrupted` row."""


class Cancel:
    """Stop a run from another thread (the panel's Stop): closing the live stream makes a blocked read
    return at once, and the run ends `interrupted` with its partial text kept."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._stream = None

    def set(self) -> None:
        self._event.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def is_set(self) -> bool:
        return self._event.is_set()

    def attach(self, stream) -> None:
        with self._lock:
            self._stream = stream
        if self._event.is_set():
            stream.close()


class Conversation:
    """A named chat: the turns so far (system prompt included). The magic's `--chat NAME` and the panel's
    chat mode continue the same objects, so a panel's chat can go on in a cell and back."""

    def __init__(self, name: str, messages: Iterable[dict] = ()):
        self.name, self.messages = name, [dict(m) for m in messages]

    @property
    def system(self) -> Optional[str]:
        first = self.messages[0] if self.messages else None
        return first["content"] if first and first.get("role") == "system" else None

    def __len__(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return f"<Conversation {self.name!r}: {len(self.messages)} messages>"


class Session:
    """One notebook session: where requests go, what they default to, the conversations, the history.

    Clients are made on demand and rebuilt whenever what they were made from changes (an API key or base
    URL set later in `os.environ`, or by `%cerebras key`, is seen by the next call)."""

    def __init__(self, *, history_path: Any = _UNSET, **options):
        self.options: dict = {"api_key": None, "base_url": None, "backend": "auto", "timeout": 60.0, "max_retries": 2}
        self.defaults: dict = {p.name: None for p in PARAMS}
        self.defaults["stream"] = True
        self.conversations: dict = {}
        self.catalog = Catalog()              # what each server offers: model ids, prices, limits
        self.limits: dict = {}                # base URL -> the latest x-ratelimit-* figures, as seen
        self.namespace: Optional[Mapping] = None   # None: the running IPython's user namespace
        self._history = None
        self._history_path = history_path
        self._clients: dict = {}
        self._async_clients = weakref.WeakKeyDictionary()  # event loop -> {options: AsyncClient}
        self._lock = threading.RLock()
        self.configure(**options)

    # -- settings ------------------------------------------------------------------------------
    def configure(self, *, history_path: Any = _UNSET, _front: str = "configure", **settings) -> None:
        """Client options (api_key, base_url, backend, timeout, max_retries), defaults for any parameter
        (model, temperature, max_tokens, system, ..., stream) or the history path. Each is checked here, so
        a bad value is said when it is set, not at every later call."""
        checked = {}
        for key, value in settings.items():
            if key in CLIENT_OPTIONS:
                checked[key] = check_option(key, value, _front)
            elif key in BY_NAME:
                checked[key] = BY_NAME[key].check(value, "config" if _front == "config" else "python")
            elif key in self.defaults:
                if value is not None and not isinstance(value, bool):
                    raise E.ParameterError(f"{_shown(key, _front)} must be True or False (got {value!r})")
                checked[key] = value
            else:
                known = ", ".join([*CLIENT_OPTIONS, *self.defaults, "history_path"])
                raise E.ParameterError(f"configure: unknown setting {key!r}; known: {known}")
        for key, value in checked.items():
            (self.options if key in CLIENT_OPTIONS else self.defaults)[key] = value
        if history_path is not _UNSET:
            with self._lock:
                self._history_path, self._history = history_path, None

    @property
    def history(self):
        """The History store (SQLite, opened lazily)."""
        with self._lock:
            if self._history is None:
                from ._store import History
                self._history = History() if self._history_path is _UNSET else History(self._history_path)
            return self._history

    def conversation(self, name: str) -> Conversation:
        with self._lock:
            found = self.conversations.get(name)
            if found is None:
                found = self.conversations[name] = Conversation(name)
            return found

    def reset_conversations(self, names: Optional[Iterable[str]] = None) -> list:
        with self._lock:
            names = list(self.conversations) if names is None else list(names)
            for name in names:
                self.conversations.pop(name, None)
            return names

    # -- clients -------------------------------------------------------------------------------
    def client(self, backend: Optional[str] = None, *, asynchronous: bool = False):
        """The client for a backend (None: the configured one), made from the options and the environment
        as they are now. An async client belongs to the running event loop (httpx's connections do), so
        each loop gets its own: a batch run twice, or inside a notebook's own loop, never meets a closed one."""
        opts = dict(self.options)
        opts["backend"] = backend or opts["backend"]
        opts["api_key"] = opts["api_key"] or os.environ.get("CEREBRAS_API_KEY") or None
        opts["base_url"] = opts["base_url"] or os.environ.get("CEREBRAS_BASE_URL") or None
        key = tuple(opts[k] for k in CLIENT_OPTIONS)
        with self._lock:
            if asynchronous:
                pool = self._async_clients.setdefault(asyncio.get_running_loop(), {})
            else:
                pool = self._clients
            client = pool.get(key)
            if client is None:
                from ..api import AsyncClient, Client
                client = (AsyncClient if asynchronous else Client)(**opts)
                for k in [k for k in pool if k[2] == key[2]]:  # same backend, another key or URL: stale
                    old = pool.pop(k)
                    if not asynchronous:
                        old.close()
                pool[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._async_clients.clear()
            if self._history is not None:
                self._history.close()

    # -- the request ---------------------------------------------------------------------------
    def prepare(self, ask: Ask, client=None) -> Ask:
        """The Ask as it will be sent: values checked, defaults filled, the conversation and system prompt
        applied, the model named (and checked against the server's list). Raises ParameterError naming
        what the user typed (or the %config trait). An Ask that was prepared already (a replay) is only
        checked: nothing is filled in again."""
        return self._prepare(ask, client or self.client(ask.backend))[0]

    def _prepare(self, ask: Ask, client) -> tuple:
        """(the Ask as sent, why its model: None when the user named it)."""
        ask = ask.check()
        if ask.resolved:
            return ask, None
        params = {}
        for p in PARAMS:
            if ask.endpoint not in p.endpoints:
                continue
            value = ask.params.get(p.name)
            if value is None and self.defaults.get(p.name) is not None:
                value = p.check(self.defaults[p.name], "config")
            if value is not None:
                params[p.name] = value
        low, high = params.get("min_tokens"), params.get("max_tokens")
        if low is not None and high is not None and low > high:
            shown = {name: BY_NAME[name].shown_as(ask.source if ask.params.get(name) is not None else "config")
                     for name in ("min_tokens", "max_tokens")}
            raise E.ParameterError(f"{shown['min_tokens']} {low} is more than {shown['max_tokens']} {high}: the "
                                   "answer's minimum cannot exceed its maximum")
        if ask.endpoint == "chat" and ask.messages is None and isinstance(ask.prompt, str) and not ask.prompt.strip():
            raise E.ParameterError("the prompt is empty: give the text to send" if ask.source != "widget"
                                   else "the Prompt field is empty: type what to send")
        why = None if ask.params.get("model") else "configured default" if params.get("model") else None
        if not params.get("model"):
            params["model"], why = self.catalog.default_model(client)
        if params["model"] is None:
            raise E.ParameterError(f"{client.base_url} lists no models: name one with "
                                   f"{BY_NAME['model'].shown_as(ask.source)}")
        self.catalog.check(client, params["model"], BY_NAME["model"].shown_as(ask.source if why is None else "config"))
        self._check_supported(client, ask, params)
        system = params.pop("system", None)
        messages = None
        if ask.endpoint == "chat":
            if ask.messages is not None:
                turns = ask.messages
            elif ask.conversation and not ask.new:
                turns = self.conversation(ask.conversation).messages
            else:
                turns = ()
            messages = tuple(with_system(turns, system))
        schema = ask.schema
        if isinstance(schema, str):  # a class named in a cell or the panel: looked up in the notebook
            shown = {"magic": f"--schema {schema}", "widget": "the Schema field"}.get(ask.source, f"schema={schema!r}")
            schema = resolve_schema(schema, self.user_namespace(), shown)
        stream = self.defaults["stream"] if ask.stream is None else ask.stream
        # the backend that answers is part of the request: a replay goes back to it (the local model, say)
        return dataclasses.replace(ask, params=params, messages=messages, schema=schema, stream=bool(stream),
                                   backend=ask.backend or client.backend, resolved=True), why

    def _check_supported(self, client, ask: Ask, params: dict) -> None:
        """A parameter the catalogue says this model does not take is one line before sending (where the
        catalogue says nothing, the server's own 400 is the line)."""
        supported = (self.catalog.entry(client, params["model"]) or {}).get("supported_parameters") or {}
        if not isinstance(supported, dict):
            return
        for p in PARAMS:
            if p.name in params and p.name not in ("model", "system") \
                    and supported.get(p.wire_name(ask.endpoint)) is False:
                raise E.ParameterError(f"{p.shown_as(ask.source)} is not supported by {params['model']} "
                                       f"(its catalogue entry says so)")
        for key in ask.extra:
            if supported.get(key) is False:
                raise E.ParameterError(f"{key} is not supported by {params['model']} (its catalogue entry says so)")

    def user_namespace(self) -> Mapping:
        """Where names typed by the user (a --schema class) are looked up: the running IPython's namespace."""
        if self.namespace is not None:
            return self.namespace
        try:
            from IPython import get_ipython
        except ImportError:
            return {}
        shell = get_ipython()
        return shell.user_ns if shell is not None else {}

    def dump(self, ask: Ask) -> dict:
        """The exact request `run` would send, key redacted (for --dry-run)."""
        client = self.client(ask.backend)
        sent = self.prepare(ask, client)
        kind, first, params, extra = sent.wire()
        return client.dump_request(kind, first, stream=sent.stream, extra_body=extra or None, **params)

    def estimate(self, ask: Ask) -> dict:
        """Before sending: about how many prompt tokens (4 characters a token: a rough rule), the most
        completion tokens, the rate-limit charge (Cerebras charges prompt + max tokens up front) and the
        most it can cost, from the catalogue's prices. Unknown figures are None."""
        client = self.client(ask.backend)
        sent = self.prepare(ask, client)
        kind, first, params, extra = sent.wire()
        text = json.dumps(first, ensure_ascii=False) if kind == "chat" else str(first)
        prompt = max(1, round(len(text) / 4))
        model = sent.get("model")
        most = sent.get("max_tokens") or self.catalog.max_completion(client, model)
        from types import SimpleNamespace
        usage = SimpleNamespace(prompt_tokens=prompt, completion_tokens=most, prompt_tokens_details=None)
        return {"model": model, "prompt_tokens": prompt, "max_tokens": most,
                "from_catalogue": sent.get("max_tokens") is None and most is not None,
                "charge": prompt + most if most else None,
                "cost_usd": self.catalog.cost(client, model, usage) if most else None}

    def run(self, ask: Ask, *, observers: Iterable = (), errors: str = "raise", cancel: Optional[Cancel] = None,
            cell_id: Optional[str] = None, replay_of: Optional[str] = None, result: Optional[Result] = None) -> Result:
        """Send one request and fold the answer into a Result; always leaves exactly one history row.

        errors="raise": an error raises its CerebrasError (its `.result` holds what arrived) and Ctrl-C
        raises KeyboardInterrupt, after the row is written. errors="return": the Result is returned with
        status "error" (`.exception` set) or "interrupted". `result`: the Result to fold the answer into
        (a grid's carries its group id; a fork's starts with the text it branches from)."""
        if errors not in ERRORS:
            raise E.ParameterError(f"errors={errors!r}; allowed: {', '.join(ERRORS)}")
        call = _Call(self, ask, list(observers), cell_id, replay_of, result)
        live = None
        try:
            client, sent = call.begin()
            kind, first, params, extra = sent.wire()
            send = client.chat if kind == "chat" else client.complete
            if sent.stream:
                live = send(first, stream=True, extra_body=extra or None, **params)
                if cancel is not None:
                    cancel.attach(live)
                call.opened(live)
                for chunk in live:
                    call.chunk(chunk)
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
            else:
                call.response(send(first, stream=False, extra_body=extra or None, **params))
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            return call.done()
        except (KeyboardInterrupt, Cancelled) as exc:
            _close(live)
            call.interrupted()
            if errors == "raise" and isinstance(exc, KeyboardInterrupt):
                raise
            return call.result
        except E.CerebrasError as exc:
            _close(live)
            if cancel is not None and cancel.is_set():  # the read failed because Stop closed the stream
                call.interrupted()
                return call.result
            call.failed(exc)
            if errors == "raise":
                raise
            return call.result
        except BaseException as exc:  # a bug still leaves its row
            _close(live)
            call.failed(exc)
            raise

    async def arun(self, ask: Ask, *, observers: Iterable = (), errors: str = "raise",
                   cell_id: Optional[str] = None, replay_of: Optional[str] = None,
                   result: Optional[Result] = None) -> Result:
        """The async twin of `run`, on the AsyncClient: the same call (checks, observers, one history row).
        Cancelling its task closes the stream and ends the call `interrupted`; the cancellation goes on."""
        if errors not in ERRORS:
            raise E.ParameterError(f"errors={errors!r}; allowed: {', '.join(ERRORS)}")
        call = _Call(self, ask, list(observers), cell_id, replay_of, result)
        live = None
        try:
            client, sent = call.begin(asynchronous=True)
            kind, first, params, extra = sent.wire()
            send = client.chat if kind == "chat" else client.complete
            if sent.stream:
                live = await send(first, stream=True, extra_body=extra or None, **params)
                call.opened(live)
                async for chunk in live:
                    call.chunk(chunk)
            else:
                call.response(await send(first, stream=False, extra_body=extra or None, **params))
            return call.done()
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            await _aclose(live)
            call.interrupted()
            if errors == "raise" or isinstance(exc, asyncio.CancelledError):
                raise
            return call.result
        except E.CerebrasError as exc:
            await _aclose(live)
            call.failed(exc)
            if errors == "raise":
                raise
            return call.result
        except BaseException as exc:  # a bug still leaves its row
            await _aclose(live)
            call.failed(exc)
            raise

    def replay(self, row_or_id, **kwargs) -> Result:
        """Send a history row's request again, byte for byte; the new row points to the one it replays."""
        row = self._find_row(row_or_id)
        spec = row.get("request")
        if not isinstance(spec, str) or not spec:
            raise E.ParameterError(f"history row {row.get('id')!r} has no stored request to replay")
        ask = Ask.from_dict(json.loads(spec), source="replay")
        return self.run(ask, replay_of=row.get("id"), **kwargs)

    def _find_row(self, row_or_id) -> dict:
        if isinstance(row_or_id, Mapping) or hasattr(row_or_id, "to_dict"):
            row = dict(row_or_id.to_dict() if hasattr(row_or_id, "to_dict") else row_or_id)
            if row.get("request"):
                return row
            row_or_id = row.get("id")
        if isinstance(row_or_id, Result):
            row_or_id = row_or_id.id
        if isinstance(row_or_id, int) and not isinstance(row_or_id, bool):
            rows = self.history.rows()
            if not -len(rows) <= row_or_id < len(rows):
                raise E.ParameterError(f"no history row {row_or_id}: this session has {len(rows)} rows (0-{len(rows) - 1})")
            return rows[row_or_id]
        found = self.history.find(str(row_or_id))
        if found is None:
            raise E.ParameterError(f"no history row with id {row_or_id!r}")
        return found


_DEFAULT: Optional[Session] = None
_DEFAULT_LOCK = threading.Lock()


def default_session() -> Session:
    """The Session behind `cm.chat`, `cm.history`, the magic and the panel."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Session()
        return _DEFAULT


def set_default_session(session: Optional[Session]) -> Optional[Session]:
    """Make `session` the default (None: a fresh one next time); returns the previous default."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        previous, _DEFAULT = _DEFAULT, session
        return previous
