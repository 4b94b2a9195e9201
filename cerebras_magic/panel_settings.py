"""The playground's settings in the two forms they leave the panel: `session.run` arguments and a cell.

Both read the same snapshot of the panel's traits, so "Copy as %%cerebras cell" gives the cell that sends
exactly the request the panel sent (tests/test_widget.py compares the two on the wire).
"""
from __future__ import annotations

import shlex


def request_kwargs(snap: dict) -> dict:
    """The panel's settings as `session.run` keyword arguments."""
    chat = snap["endpoint"] == "chat"
    kw = {"model": snap["model"] or None, "temperature": snap["temperature"], "top_p": snap["top_p"],
          "seed": snap["seed"], "stop": list(snap["stop"]) or None,
          "logprobs": snap["top_k"] if snap["logprobs"] else None}
    tokens = ("max_completion_tokens", "min_completion_tokens") if chat else ("max_tokens", "min_tokens")
    kw[tokens[0]], kw[tokens[1]] = snap["max_tokens"], snap["min_tokens"] or None
    if chat:
        kw["system"] = snap["system"] or None
        kw["json_mode"] = snap["response_format"] == "json"
        if snap["response_format"] == "schema":
            kw["schema"] = _schema(snap["schema_name"])
        if snap["chat_mode"]:
            history = list(snap["conversation"])
            if snap["system"] and not (history and history[0]["role"] == "system"):
                history.insert(0, {"role": "system", "content": snap["system"]})
            kw["messages"] = history + [{"role": "user", "content": snap["prompt"]}]
            kw["system"] = None
    elif snap["response_format"] != "text":
        raise ValueError("JSON and schema output need the chat endpoint")
    return kw


def _schema(name: str):
    from IPython import get_ipython
    shell = get_ipython()
    obj = shell.user_ns.get(name) if shell is not None and name else None
    if not (isinstance(obj, type) and hasattr(obj, "model_json_schema")):
        raise ValueError(f"schema {name!r}: define a pydantic BaseModel class with that name in the notebook first")
    return obj


def cell_for(p: dict) -> str:
    """The %%cerebras cell that sends the same request as the panel's current settings."""
    q = _quote
    flags = ["%%cerebras", "-m", q(p["model"]), "-t", f"{p['temperature']:g}", "--top-p", f"{p['top_p']:g}",
             "--max-tokens", str(p["max_tokens"])]
    if p["min_tokens"]:
        flags += ["--min-tokens", str(p["min_tokens"])]
    if p["seed"] is not None:
        flags += ["--seed", str(p["seed"])]
    for s in p["stop"]:
        flags += ["--stop", q(s)]
    if p["logprobs"]:
        flags += ["--logprobs", str(p["top_k"])]
    if p["endpoint"] == "completion":
        flags.append("--completion")
    else:
        if p["system"]:
            flags += ["-s", q(p["system"])]
        if p["chat_mode"]:
            flags.append("--chat")
        if p["response_format"] == "json":
            flags.append("--json")
        elif p["response_format"] == "schema" and p["schema_name"]:
            flags += ["--schema", q(p["schema_name"])]
    if "{" in p["prompt"] or "}" in p["prompt"]:
        flags.append("--no-interpolate")  # the panel sends braces as written
    return " ".join(flags) + "\n" + p["prompt"]


def _quote(text: str) -> str:
    """Shell-quote for the %%cerebras line; newlines and backslashes as the escapes the magic decodes."""
    return shlex.quote(text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r"))
