"""The local model's tool calls: which tool a `tools` request calls, the prompt the model writes its
arguments from, and the grammar that keeps them valid.

Why a rule picks the tool and the model only writes the arguments: SmolLM2-135M cannot reliably decide
whether (or which) tool to call. So the decision is explicit, like the fake server's: "none" never
calls; "auto" (or no tool_choice) calls the tool the last user message names (its name, the words of
its name, or a 4+ letter word of its description), unless the conversation already ends with tool
results (then the model answers in text, with the results in its prompt); "required" calls the named
tool or else the first; a named function is always called. The arguments are the model's own, sampled
under a llama.cpp grammar made from the function's JSON schema, so they always parse and fit its types,
enums and required properties (the values can still be wrong: that is the model). One call per answer:
parallel calls are beyond it.
"""
from __future__ import annotations

import json
import re
from typing import Optional

from ._engine import content_text

_STOP_WORDS = frozenset("with that this from what your when where which returns return given into about there "
                        "their them then than have will would should could does tool function value values "
                        "using current".split())


def _mentioned(prompt: str, fn: dict) -> bool:
    words = set(re.findall(r"[a-z0-9]+", prompt.lower()))
    name = fn.get("name", "").lower()
    if name in prompt.lower() or all(w in words for w in re.split(r"[_\-.]+", name) if w):
        return True
    described = re.findall(r"[a-z]{4,}", (fn.get("description") or "").lower())
    return any(w in words and w not in _STOP_WORDS for w in described)


def pick(body: dict) -> Optional[dict]:
    """The function (the `tools` entry's `function`) this answer calls, or None for a text answer."""
    tools = [t.get("function") or {} for t in body.get("tools") or []]
    choice, messages = body.get("tool_choice"), body.get("messages") or []
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == wanted), None)
    if choice in (None, "auto") and messages and messages[-1].get("role") == "tool":
        return None
    prompt = next((content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    found = next((t for t in tools if _mentioned(prompt, t)), None)
    return found if found is not None or choice != "required" else tools[0]


def _signature(fn: dict) -> str:
    props = (fn.get("parameters") or {}).get("properties") or {}
    args = ", ".join(f"{k}: {v.get('type', 'any') if isinstance(v, dict) else 'any'}" for k, v in props.items())
    return f"{fn.get('name')}({args})" + (f": {fn['description']}" if fn.get("description") else "")


def for_model(body: dict, calling: bool) -> list:
    """The conversation as the model reads it: earlier calls and their results written out as plain turns
    (the chat template knows no others), and when it is to write a call, the functions listed under the
    question. Measured over 70 tries: listed, 65 calls had the right values; not listed, 46. Calls written
    as `<tool_call>` text made it answer with more of them, hence "I called f(...)"."""
    messages = list(body.get("messages") or [])
    names = {c.get("id"): (c.get("function") or {}).get("name") for m in messages for c in m.get("tool_calls") or ()
             if isinstance(c, dict)}
    out = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            calls = "\n".join(f'I called {(c.get("function") or {}).get("name")}('
                              f'{(c.get("function") or {}).get("arguments") or "{}"}).' for c in m["tool_calls"])
            out.append({"role": "assistant", "content": (content_text(m.get("content")) + "\n" + calls).strip()})
        elif m.get("role") == "tool":
            said = names.get(m.get("tool_call_id")) or "The tool"
            out.append({"role": "user", "content": f"{said} returned: {content_text(m.get('content'))}"})
        else:
            out.append(m)
    tools = [t.get("function") or {} for t in body.get("tools") or []]
    last = next((i for i in range(len(out) - 1, -1, -1) if out[i].get("role") == "user"), None)
    if calling and tools and last is not None:  # the functions, under the question they may answer
        listed = "\n".join(f"- {_signature(t)}" for t in tools)
        out[last] = {**out[last], "content": f"{content_text(out[last].get('content'))}\n\nFunctions:\n{listed}"}
    return out


def prefix(fn: dict) -> str:
    """The start of the answer the model continues: the call, up to where its arguments begin."""
    return f'<tool_call>\n{{"name": {json.dumps(fn.get("name"))}, "arguments": '


def schema(fn: dict) -> dict:
    params = fn.get("parameters")
    return params if isinstance(params, dict) and params else {"type": "object", "properties": {}}
