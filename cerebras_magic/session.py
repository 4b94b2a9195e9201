"""The one request path for every front end: params -> Client -> Result -> observers -> History.

The magic, `cm.chat`/`cm.complete`, the widget and batch runs all call `run()`. Whatever happens (bad
parameters, HTTP errors, a broken stream, Ctrl-C) the call ends as exactly one history row.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterable, Optional

from . import errors as E
from .result import Result

_state: dict = {"clients": {}, "history": None, "client_options": {}}


def configure(*, history_path: Any = ..., **client_options) -> None:
    """Change the session's default client options (api_key, base_url, model, ...) or history path."""
    if client_options:
        _state["client_options"].update(client_options)
        _close_clients()
    if history_path is not ...:
        from .store import History
        _state["history"] = History(history_path)


def reset() -> None:
    """Forget the session's clients, options and history (tests, or a clean start)."""
    _close_clients()
    _state.update(history=None, client_options={})


def _close_clients() -> None:
    for c in _state["clients"].values():
        c.close()
    _state["clients"] = {}


def get_client(backend: Optional[str] = None):
    """The session's client for a backend (None: the configured one, by default 'auto')."""
    opts = dict(_state["client_options"])
    if backend:
        opts["backend"] = backend
    name = opts.get("backend", "auto")
    if name not in _state["clients"]:
        from .client import Client
        _state["clients"][name] = Client(**opts)
    return _state["clients"][name]


def get_history():
    if _state["history"] is None:
        from .store import History
        _state["history"] = History()
    return _state["history"]


class Cancelled(Exception):
    """Raised inside a run that was stopped with `Cancel.set()`; ends as an `interrupted` row."""


class Cancel:
    """Stop a run from another thread (the widget's Stop): closing the live stream makes a blocked read
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


def split_logprobs(endpoint: str, logprobs) -> dict:
    """`logprobs=K` means "top K alternatives" on both endpoints; map it to each endpoint's fields."""
    if logprobs is None or logprobs is False:
        return {}
    k = 0 if logprobs is True else int(logprobs)
    if endpoint == "completion":
        return {"logprobs": k}
    return {"logprobs": True, "top_logprobs": k}


def schema_format(schema) -> dict:
    """A pydantic model class -> the strict json_schema response_format the API expects."""
    return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(),
                                                    "strict": True}}


def prepare(endpoint: str, prompt: Any, *, system: Optional[str] = None, messages: Optional[list] = None,
            schema=None, json_mode: bool = False, logprobs=None, **params):
    """Turn what a front end collected into (first argument for the client, API params)."""
    if endpoint not in ("chat", "completion"):
        raise E.ParameterError(f"invalid endpoint={endpoint!r}; allowed: chat, completion")
    params = {k: v for k, v in params.items() if v is not None}
    params.update(split_logprobs(endpoint, logprobs))
    if endpoint == "completion":
        if system or messages or schema is not None or json_mode:
            raise E.ParameterError("system, chat messages, --json and --schema need the chat endpoint, not completion")
        return prompt, params
    if messages is None:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    if schema is not None:
        params["response_format"] = schema_format(schema)
    elif json_mode:
        params["response_format"] = {"type": "json_object"}
    return messages, params


def run(endpoint: str, prompt: Any, *, client=None, history=None, observers: Iterable = (), source: str = "python",
        system: Optional[str] = None, messages: Optional[list] = None, stream: bool = True, schema=None,
        json_mode: bool = False, logprobs=None, cell_id: Optional[str] = None, raise_errors: bool = True,
        reraise_interrupt: bool = True, extra_headers: Optional[dict] = None, cancel: Optional[Cancel] = None,
        **params) -> Result:
    """Send one request and fold the answer into a Result; always leaves exactly one history row.

    `messages` (chat) is the full conversation to send; without it the prompt (and system) make one.
    Errors raise a CerebrasError whose `.result` holds what arrived; with `raise_errors=False` the call
    instead returns that Result with `status == "error"`.
    """
    client = client or get_client()
    history = history if history is not None else get_history()
    observers = list(observers)
    result = _new_result(client, endpoint, prompt, source, params.get("model"), system=system,
                         messages=list(messages or []), cell_id=cell_id)
    live = None
    try:
        first, params = prepare(endpoint, prompt, system=system, messages=messages, schema=schema,
                                json_mode=json_mode, logprobs=logprobs, **params)
        result.params = {k: v for k, v in params.items() if k != "model"}
        result.messages = first if endpoint == "chat" else []
        for ob in observers:
            ob.start(result)
        call = client.chat if endpoint == "chat" else client.complete
        if stream:
            live = call(first, stream=True, extra_headers=extra_headers, **params)
            if cancel is not None:
                cancel.attach(live)
            result.ratelimit = live.ratelimit
            result.t_sent = live.started_at
            for chunk in live:
                new = result.add_chunk(chunk)
                for ob in observers:
                    ob.update(result, new)
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
        else:
            response = call(first, stream=False, extra_headers=extra_headers, **params)
            result.ratelimit = response.ratelimit
            result.add_response(response)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        _parse_structured(result, schema, json_mode)
        result.finish("ok")
    except (KeyboardInterrupt, Cancelled) as exc:
        return _interrupted(result, live, observers, history, reraise_interrupt and isinstance(exc, KeyboardInterrupt))
    except E.CerebrasError as exc:
        if cancel is not None and cancel.is_set():  # the read failed because Stop closed the stream
            return _interrupted(result, live, observers, history, False)
        if live is not None:
            live.close()
        result.finish("error", exc)
        exc.result = result  # the partial answer and figures, for whoever catches the error
        _end(result, observers, history)
        if raise_errors:
            raise
        return result
    except BaseException as exc:  # an unexpected bug still leaves its row
        result.finish("error", f"{type(exc).__name__}: {exc}")
        _end(result, observers, history)
        raise
    _end(result, observers, history)
    return result


def record_failure(endpoint: str, prompt: Any, error: BaseException, *, client=None, history=None,
                   source: str = "python", **fields) -> Result:
    """A call that failed before it could be sent (e.g. the widget's unknown schema): still one row."""
    client = client or get_client()
    result = _new_result(client, endpoint, prompt, source, fields.get("model"),
                         params={k: v for k, v in fields.items() if v is not None})
    result.finish("error", error)
    (history if history is not None else get_history()).append(result.to_row())
    return result


def chat(prompt: Any, *, system: Optional[str] = None, logprobs=None, stream: bool = True, schema=None,
         json: bool = False, **params) -> Result:
    """One chat call from Python: `cm.chat("hi", model=..., temperature=..., logprobs=5)` -> Result.

    `prompt` may be a string or a full list of messages. Errors raise; the call is in `cm.history()` either way."""
    messages = prompt if isinstance(prompt, list) else None
    return run("chat", prompt if messages is None else "", messages=messages, system=system, logprobs=logprobs,
               stream=stream, schema=schema, json_mode=json, **params)


def complete(prompt: Any, *, logprobs=None, stream: bool = True, **params) -> Result:
    """One text-completion call (/v1/completions): `cm.complete("Once upon", max_tokens=20)` -> Result."""
    return run("completion", prompt, logprobs=logprobs, stream=stream, **params)


def logprobs_frame(source):
    """Token table (DataFrame) from a Result, a history row (dict or pandas Series) or its logprobs JSON."""
    from .logprobs import entries_from_compact, frame
    if hasattr(source, "token_logprobs"):
        return frame(source.token_logprobs)
    if isinstance(source, str) or source is None:
        return frame(entries_from_compact(source))
    return frame(entries_from_compact(source["logprobs"]))


def history(*, all_sessions: bool = False, n: Optional[int] = None):
    """This session's calls as a pandas DataFrame (`all_sessions=True`: the whole durable store)."""
    return get_history().to_dataframe(all_sessions=all_sessions, n=n)


def _new_result(client, endpoint: str, prompt: Any, source: str, model: Optional[str], **fields) -> Result:
    return Result(endpoint=endpoint, model=model or client.default_model, prompt=_as_text(prompt), source=source,
                  backend=client.label, **fields)


def _interrupted(result: Result, live, observers, history, reraise: bool) -> Result:
    if live is not None:
        live.close()
    result.finish("interrupted", "stopped by the user")
    _end(result, observers, history)
    if reraise:
        raise KeyboardInterrupt
    return result


def _end(result: Result, observers, history) -> None:
    try:
        for ob in observers:
            ob.finish(result)
    finally:
        history.append(result.to_row())


def _parse_structured(result: Result, schema, json_mode: bool) -> None:
    """Fill `result.parsed`, or raise ResponseFormatError (the text stays on the Result)."""
    if schema is None and not json_mode:
        return
    if result.finish_reason == "length":
        raise E.ResponseFormatError("the JSON answer was cut at max tokens (finish_reason=length); raise --max-tokens")
    try:
        result.parsed = schema.model_validate_json(result.text) if schema is not None else json.loads(result.text)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        first = str(exc).splitlines()
        what = f"schema {schema.__name__}" if schema is not None else "JSON"
        raise E.ResponseFormatError(f"the answer is not valid {what}: {' '.join(first[:3])[:200]}") from None


def _as_text(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
