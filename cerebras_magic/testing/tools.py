"""Deterministic tool calls: which of the request's tools the fake model calls, with which arguments, and
what it says once the tool results are back, so a client's tool loop can be tested end to end.

Rules (also in the package docstring):
- A tool is *mentioned* when the last user message contains its name (``get_weather``, or its words
  ``get weather``) or a word of 4+ letters from its description ("Weather for a city" -> "weather", "city").
- ``tool_choice`` "none" never calls; "auto" (or absent) calls the mentioned tools and answers in text when
  none is mentioned or when the conversation ends with ``tool`` results; "required" calls the mentioned tools
  or else the first one, even after tool results; a named function is always called.
- Arguments start from a valid value for the tool's JSON schema (schema.py), keeping the required properties
  and those the prompt gives (all of them when the schema requires none); top-level properties take values
  from the prompt: ``name: value`` / ``name = value`` / ``name is value`` for any property; the main
  string property (the first required string, else the first string) takes the *things* the prompt names
  (quoted strings, else capitalised phrases after in/for/at/of/about/from/to/near/on, split at "and", "or"
  and commas: "weather in Paris and Rome" -> Paris, Rome); integer and number properties take the prompt's
  numbers in order; an enum takes the value the prompt mentions. `$ref`s are followed, `anyOf [X, null]`
  (pydantic's Optional) counts as X, and a nested object property (a pydantic model) is filled by the same
  rules.
- Several things and ``parallel_tool_calls`` not false give one call per thing in one message; several
  mentioned tools give one call each. A model without parallel tool calls (gpt-oss) makes the first only.
"""
from __future__ import annotations

import json
import random
import re

from .schema import fake_json

_CAP = r"[A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*)*"
_THINGS = re.compile(rf"\b(?i:in|for|at|of|about|from|to|near|on)\s+((?:the\s+)?{_CAP}(?:\s*(?:,|\band\b|\bor\b|&)"
                     rf"\s*(?:the\s+)?{_CAP})*)")
_SPLIT = re.compile(r"\s*(?:,|\band\b|\bor\b|&)\s*")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”")
_NUMBERS = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?\b")
_STOP = frozenset("with that this from what your when where which returns return given into about there their "
                  "them then than have will would should could does tool function value values using".split())
RESULT_CHARS = 300


def message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _words(text: str) -> set:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def mentioned(prompt: str, tool: dict) -> int | None:
    """Where in the prompt the tool is first mentioned (name, its words, or description words), or None."""
    low, words = prompt.lower(), _words(prompt)
    name = tool["name"].lower()
    spots = [re.search(rf"\b{re.escape(n)}\b", low) for n in (name, " ".join(re.split(r"[_\-.]+", name)))]
    for word in re.findall(r"[a-z]{4,}", (tool.get("description") or "").lower() + " " + name.replace("_", " ")):
        if word in words and word not in _STOP:
            spots.append(re.search(rf"\b{word}\b", low))
    spots = [s.start() for s in spots if s is not None]
    return min(spots) if spots else None


def things(prompt: str) -> list[str]:
    """The things a prompt names: quoted strings, else capitalised phrases after a preposition."""
    quoted = [a or b for a, b in _QUOTED.findall(prompt)]
    if quoted:
        return quoted
    found = []
    for group in _THINGS.findall(prompt):
        found += [re.sub(r"^the\s+", "", p) for p in _SPLIT.split(group) if p]
    return list(dict.fromkeys(found))


def _explicit(prompt: str, name: str) -> str | None:
    words = re.escape(name).replace("_", "[_ ]")
    hit = re.search(rf"\b{words}\s*(?::|=|\bis\b)\s*(?:\"([^\"]*)\"|([^\s,;.?!]+))", prompt, re.IGNORECASE)
    return None if hit is None else (hit.group(1) if hit.group(1) is not None else hit.group(2))


def _kind(schema: dict) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind


def _plain(root: dict, schema) -> dict:
    """A property's schema with `$ref` followed and an `anyOf [X, null]` (pydantic's Optional) taken as X."""
    for _ in range(8):
        if not isinstance(schema, dict):
            return {}
        if "$ref" in schema:
            node = root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) and part else node
            schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        options = [o for o in schema.get("anyOf") or () if not (isinstance(o, dict) and o.get("type") == "null")]
        if len(options) == 1 and len(schema["anyOf"]) == 2:
            schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
            continue
        return schema
    return schema


def arguments(rng: random.Random, tool: dict, prompt: str, thing: str | None) -> dict:
    """Arguments valid for the tool's schema, with values from the prompt (rules in the module docstring)."""
    schema = tool.get("parameters") or {"type": "object"}
    args = fake_json(rng, schema)
    if not isinstance(args, dict):
        return args
    return _fill(schema, schema, args, prompt, thing, iter(_NUMBERS.findall(prompt)))[0]


def _fill(root: dict, schema: dict, args: dict, prompt: str, thing: str | None, numbers) -> tuple:
    """(the object's arguments with the prompt's values, whether the prompt gave any); a nested object
    property (a pydantic model) is filled the same way."""
    props = {k: _plain(root, v) for k, v in (schema.get("properties") or {}).items()}
    required = set(schema.get("required") or ())
    strings = [k for k, v in props.items() if _kind(v) == "string" and "enum" not in v]
    main = next((k for k in strings if k in required), strings[0] if strings else None)
    words, given = _words(prompt), {}
    for name, sub in props.items():
        said = _explicit(prompt, name)
        if sub.get("enum"):
            pick = said if said in sub["enum"] else next((e for e in sub["enum"] if str(e).lower() in words), None)
            if pick is not None:
                given[name] = pick
        elif _kind(sub) == "string" and (said is not None or (name == main and thing is not None)):
            given[name] = said if said is not None else thing
        elif _kind(sub) in ("integer", "number"):
            raw = said if said is not None and _NUMBERS.fullmatch(said) else next(numbers, None)
            if raw is not None:
                given[name] = int(float(raw)) if _kind(sub) == "integer" else float(raw)
        elif sub.get("properties") and isinstance(args.get(name), dict):
            inner, any_given = _fill(root, sub, args[name], prompt, thing, numbers)
            if any_given or name in required:
                given[name] = inner
    if required:  # optional properties only when the prompt gave them a value
        args = {k: v for k, v in args.items() if k in required}
    return {**args, **given}, bool(given)


def after_tools(messages: list) -> bool:
    return bool(messages) and messages[-1].get("role") == "tool"


def plan_calls(body: dict, rng: random.Random, parallel_model: bool = True) -> list[dict] | None:
    """The tool calls of one answer, or None for a text answer."""
    tools = [t["function"] for t in body.get("tools") or []]
    choice, messages = body.get("tool_choice"), body["messages"]
    if not tools or choice == "none" or (choice in (None, "auto") and after_tools(messages)):
        return None
    prompt = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    if isinstance(choice, dict):
        picked = [t for t in tools if t["name"] == choice["function"]["name"]][:1]
    else:
        spots = [(mentioned(prompt, t), i) for i, t in enumerate(tools)]
        picked = [tools[i] for spot, i in sorted(s for s in spots if s[0] is not None)]
        if not picked and choice == "required":
            picked = tools[:1]
    if not picked:
        return None
    named = things(prompt)
    if len(picked) == 1 and len(named) > 1:
        plan = [(picked[0], t) for t in named]
    else:
        plan = [(tool, named[i] if i < len(named) else (named[0] if named else None))
                for i, tool in enumerate(picked)]
    if body.get("parallel_tool_calls") is False or not parallel_model:
        plan = plan[:1]
    return [{"id": f"call_{rng.getrandbits(96):024x}", "type": "function",
             "function": {"name": tool["name"],
                          "arguments": json.dumps(arguments(rng, tool, prompt, thing), ensure_ascii=False)}}
            for tool, thing in plan]


def results_text(messages: list) -> str:
    """The answer once tool results are back: one sentence per result, naming the tool and what it said."""
    trailing = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        trailing.insert(0, m)
    names = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            if isinstance(call, dict):
                names[call.get("id")] = (call.get("function") or {}).get("name")
    parts = []
    for m in trailing:
        said = " ".join(message_text(m).split())
        said = said if len(said) <= RESULT_CHARS else said[:RESULT_CHARS] + "…"
        parts.append(f"{names.get(m.get('tool_call_id')) or m.get('name') or 'The tool'} returned {said}.")
    return "Here is what the tools found: " + " ".join(parts)


def malformed(arguments: str) -> str:
    """Arguments cut short, so they are not valid JSON (the bad-tool-args fault)."""
    return arguments[:max(1, len(arguments) * 2 // 3)].rstrip("}") or "{"
