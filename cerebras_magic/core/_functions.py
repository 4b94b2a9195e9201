"""The package's functions (`cm.chat`, `cm.history`, ...): the default Session's, for one-line use."""
from __future__ import annotations

from typing import Any, Optional

from ._ask import Ask
from ._result import Result
from ._session import default_session


def chat(prompt: Any, **kwargs) -> Result:
    """One chat call: `cm.chat("hi", model=..., temperature=..., logprobs=5)` -> Result.

    `prompt` is a string, content parts, or a whole list of messages. Parameters go by their names
    (`max_tokens`, `system`, `stop`, ..., or their API spelling such as `max_completion_tokens`); any other
    API field is sent as given (`frequency_penalty=...`, `extra_body={...}`). `chat="NAME"` continues a
    named conversation. Errors raise; the call is in `cm.history()` either way.

    `tools=[fn, ...]` runs the tool loop (core/_tools.py) to the answer: `r.tool_calls` lists its steps;
    `tool_choice=`, `max_steps=` and `approve=True` (or a function of the step) shape it."""
    if "chat" in kwargs:
        kwargs["conversation"] = kwargs.pop("chat")
    ask = Ask.from_kwargs(prompt, endpoint="chat", **kwargs)
    if ask.tools or ask.max_steps is not None or ask.approve is not None:
        from ._tools import run_tools
        return run_tools(default_session(), ask)
    return default_session().run(ask)


def complete(prompt: Any, **kwargs) -> Result:
    """One text-completion call (/v1/completions): `cm.complete("Once upon", max_tokens=20)` -> Result."""
    return default_session().run(Ask.from_kwargs(prompt, endpoint="completion", **kwargs))


def replay(row_or_id, **kwargs) -> Result:
    """Send a history row's request again, byte for byte (a row, its id, its position, or a Result)."""
    return default_session().replay(row_or_id, **kwargs)


def configure(**settings) -> None:
    """Session defaults from Python: timeout, history_path, base_url, api_key, backend, max_retries, and a
    default for any parameter (model, temperature, max_tokens, system, ..., stream)."""
    default_session().configure(**settings)


def history(*, all_sessions: bool = False, n: Optional[int] = None):
    """This session's calls as a pandas DataFrame (`all_sessions=True`: the whole durable store)."""
    return default_session().history.to_dataframe(all_sessions=all_sessions, n=n)


def logprobs_frame(source):
    """Token table (DataFrame) from a Result, a history row (dict or pandas Series) or its logprobs JSON."""
    from ..display._tokens import entries_from_compact, frame
    if hasattr(source, "token_logprobs"):
        return frame(source.token_logprobs)
    if isinstance(source, str) or source is None:
        return frame(entries_from_compact(source))
    return frame(entries_from_compact(source["logprobs"]))
