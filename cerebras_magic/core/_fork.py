"""Forking an answer at a token: keep its text up to that token, put one of the token's alternatives in its
place, and let the model continue from there. The branch is a new call and history row (`parent_id`,
`fork_at`) whose text and logprobs start with the original's, so the two line up token for token.

How the model is asked to continue, per endpoint and backend:
- /v1/completions: the prompt, the answer up to the token and the alternative, as a new prompt;
- chat on the local model: the conversation ending in the partial assistant message, which the local
  backend continues inside the chat template (local/_engine.py, `chat_prompt`);
- chat on Cerebras (or any other server): the API documents no way to continue an assistant message (the
  SDK's assistant message has content, name, reasoning, tool_calls; no `prefix`, no
  `continue_final_message`, and unknown fields are a 400), so the conversation goes to /v1/completions in
  the model's chat template where it is known (Llama 3 and Qwen, the families Cerebras serves completions
  for); for other models, one line says this model cannot fork. `via="chat"` sends the partial assistant
  message anyway, for a server that continues it (vLLM's prefill, this package's fake server).
"""
from __future__ import annotations

import re
import weakref
from typing import Callable, Optional

from .. import _errors as E
from ._ask import Ask
from ._params import BY_NAME

VIA = ("chat", "completion")


def _llama3(messages: list, model: str) -> str:
    """Llama 3.x turns; no <|begin_of_text|>: a server puts BOS in front of a completions prompt itself."""
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{_text(m)}<|eot_id|>" for m in messages)
    return turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _chatml(messages: list, model: str) -> str:
    """Qwen's ChatML; a Qwen3 thinking model gets the empty thought its template writes when thinking is off."""
    from .. import _wire as wire
    turns = "".join(f"<|im_start|>{m['role']}\n{_text(m)}<|im_end|>\n" for m in messages)
    think = "<think>\n\n</think>\n\n" if wire.reasoning_family(model) == "qwen3" else ""
    return turns + "<|im_start|>assistant\n" + think


TEMPLATES = ((re.compile(r"llama-?3", re.I), _llama3), (re.compile(r"qwen", re.I), _chatml))


def chat_template(model: str) -> Optional[Callable[[list, str], str]]:
    """The chat template of `model`'s family, when known here (None otherwise)."""
    return next((fn for rx, fn in TEMPLATES if rx.search(model or "")), None)


def _text(m: dict) -> str:
    content = m.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _session_of(r, session):
    """The session that sent `r` (a Result keeps a weak reference to it), unless one is given."""
    if session is not None:
        return session
    ref = r.__dict__.get("_session")
    found = ref() if isinstance(ref, weakref.ref) else None
    if found is None:
        raise E.ParameterError("this answer's session is gone: pass session=... to fork it")
    return found


def fork_ask(r, position: int, token: str, via: Optional[str] = None, session=None) -> tuple:
    """(the Ask that continues the branch, the branch's text so far, its logprob entries so far)."""
    from ..display._tokens import token_bytes
    sent, entries = r.ask, r.token_logprobs
    if sent is None:
        raise E.ParameterError("this answer has no request to fork from (it never reached a server)")
    if not entries:
        raise E.ParameterError("fork needs the answer's tokens: send it with logprobs (--logprobs K, logprobs=K)")
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(entries):
        raise E.ParameterError(f"position must be a token position from 0 to {len(entries) - 1} (got {position!r})")
    if not isinstance(token, str) or not token or token.startswith("bytes:"):
        raise E.ParameterError(f"token must be the text of a whole-character alternative (got {token!r})")
    if via is not None and via not in VIA:
        raise E.ParameterError(f"via={via!r}; allowed: {', '.join(VIA)} (or None: the backend's own way)")
    prefix = b"".join(token_bytes(e) for e in entries[:position]).decode("utf-8", "replace")
    branch = prefix + token
    top = entries[position].get("top") or []
    seed = [dict(e) for e in entries[:position]] + [{"token": token, "logprob": dict(top).get(token), "bytes": None,
                                                    "top": list(top), "offset": None}]
    most = sent.get("max_tokens")
    params = {"max_tokens": max(1, most - position - 1) if most else None, "min_tokens": None}
    if sent.endpoint == "completion":
        if not isinstance(sent.prompt, str):
            raise E.ParameterError("cannot fork a completion whose prompt is token ids or several prompts")
        start = "" if sent.get("echo") else sent.prompt  # with echo, the answer's tokens begin with the prompt
        ask = sent.replace(prompt=start + branch, params={**params, "echo": None, "raw_tokens": None}, source="fork")
        return ask, branch, seed
    session = _session_of(r, session)
    local = _is_local(r)
    if via == "chat" or (via is None and local):
        turns = sent.sent_messages() + [{"role": "assistant", "content": branch}]
        ask = sent.replace(prompt=None, messages=tuple(turns), conversation=None, params=params, source="fork",
                           backend="local" if local else sent.backend)
        return ask, branch, seed
    model = sent.get("model") or r.model
    template = chat_template(model)
    if template is None:
        raise E.ParameterError(
            f"{model} cannot fork on {r.backend or 'this server'}: Cerebras has no documented way to continue an "
            "assistant message and this model's chat template is not known here (forks work on completions, the "
            "local model, Llama 3 and Qwen chat models; fork(..., via='chat') for a server that continues one)")
    keep = {k: v for k, v in sent.params.items() if v is not None and "completion" in BY_NAME[k].endpoints}
    ask = Ask(prompt=template(sent.sent_messages(), model) + branch, endpoint="completion", params={**keep, **params},
              backend=sent.backend, stream=sent.stream, source="fork", resolved=True)
    return ask, branch, seed


def _is_local(r) -> bool:
    from ..api._routing import Route
    return bool(r.backend) and r.backend == Route("local", "").label


def fork(r, position: int, token: str, *, via: Optional[str] = None, session=None, observers=(),
         errors: str = "raise", cell_id: Optional[str] = None, cancel=None):
    """`r.fork(position, token)`: the branch of `r` that says `token` at `position`, continued by the model.
    Its text starts with `r`'s up to that token; `parent_id` and `fork_at` say where it departs."""
    session = _session_of(r, session)
    ask, branch, seed = fork_ask(r, position, token, via, session)
    child = type(r)(parent_id=r.id, fork_at=position, group_id=r.group_id, prompt=r.prompt)
    child.text, child.token_logprobs = branch, seed
    child.display_format = r.display_format
    return session.run(ask, observers=observers, errors=errors, result=child, cell_id=cell_id, cancel=cancel)
