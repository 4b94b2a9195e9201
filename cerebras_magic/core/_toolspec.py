"""`Tool`: a plain Python function as the model sees it and as the tool loop calls it.

The JSON schema comes from the signature and docstring through pydantic (one arguments model per
function, built with `create_model`), so `Literal`, `Optional`, defaults, `Annotated[..., Field(...)]`,
pydantic models and enums all work, and the very same model validates the model's arguments before the
function runs: what the schema promises is what the call checks.

`strict: true` is sent only when Cerebras' strict mode can take the schema as it is: every property
required (a default makes one optional, and strict would force the model to send it anyway), no
`"type": [...]` lists, at most 5 `anyOf` branches, and only the keywords its structured outputs document
(type, properties, required, additionalProperties, items, enum, const, anyOf, $ref, $defs, description).
Then every object is closed with `additionalProperties: false`, as strict mode requires.
"""
from __future__ import annotations

import inspect
import json
import re
import typing
import weakref
from typing import Any, Mapping, Optional

from .. import _errors as E

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")   # what the API allows as a function name
STRICT_KEYS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
                         "$ref", "$defs", "description"})
MAX_ANY_OF = 5
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|Notes?)\s*:?\s*$")
_ARG_LINE = re.compile(r"^\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_PREFIX = {"magic": "--tools ", "widget": "the Tools field: "}


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the function (one line: which argument, what is wrong)."""


class Tool:
    """A function as a tool: `Tool(get_weather).spec` is what is sent; `validate` checks the model's
    arguments; calling it runs the function. `name`, `description` and `strict` can be overridden."""

    def __init__(self, fn, *, name: Optional[str] = None, description: Optional[str] = None,
                 strict: Optional[bool] = None):
        if not callable(fn):
            raise E.ParameterError(f"tools: {fn!r} is a {type(fn).__name__}, not a function")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        if not NAME.fullmatch(self.name):
            raise E.ParameterError(f"tools: {self.name!r} cannot be a tool name (letters, digits, _ and -, "
                                   "at most 64); pass Tool(fn, name=...)")
        summary, arg_docs = docstring_parts(inspect.getdoc(fn) or "")
        self.description = summary if description is None else description
        self.model, self._aliases = _arguments_model(fn, self.name, arg_docs)
        try:
            schema = _clean(self.model.model_json_schema())
        except Exception as exc:  # a type pydantic cannot put into JSON schema
            raise E.ParameterError(f"tools: {self.name}: its parameters have no JSON schema "
                                   f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        allowed = strict_allowed(schema)
        if strict and not allowed:
            raise E.ParameterError(f"tools: {self.name}: strict mode needs every parameter required (no "
                                   "defaults) and only the JSON schema keywords Cerebras' strict mode takes")
        self.strict = allowed if strict is None else strict
        self.parameters = closed(schema) if self.strict else schema
        call = getattr(fn, "__call__", None)
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)

    @property
    def spec(self) -> dict:
        """The `tools` entry sent on the wire."""
        fn = {"name": self.name}
        if self.description:
            fn["description"] = self.description
        fn["parameters"] = self.parameters
        if self.strict:
            fn["strict"] = True
        return {"type": "function", "function": fn}

    def validate(self, raw: str) -> dict:
        """The model's JSON arguments as keyword arguments for the function, or ToolArgumentsError."""
        from pydantic import ValidationError
        try:
            data = json.loads(raw or "{}")
        except ValueError as exc:
            raise ToolArgumentsError(f"the arguments are not valid JSON ({exc}): {_short(raw, 80)}") from None
        if not isinstance(data, dict):
            raise ToolArgumentsError(f"the arguments must be a JSON object, not {_short(raw, 80)}")
        try:
            checked = self.model.model_validate(data)
        except ValidationError as exc:
            raise ToolArgumentsError(validation_line(exc)) from None
        return {alias: getattr(checked, field) for field, alias in self._aliases.items()}

    def __call__(self, **kwargs):
        return self.fn(**kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name}{' strict' if self.strict else ''}{' async' if self.is_async else ''}>"


def as_tool(item) -> "Tool":
    """A Tool for a function (made once per function object) or the Tool itself."""
    if isinstance(item, Tool):
        return item
    try:
        found = _CACHE.get(item)
    except TypeError:  # not weakly referenceable (a builtin): no cache
        return Tool(item)
    if found is None:
        found = Tool(item)
        try:
            _CACHE[item] = found
        except TypeError:
            pass
    return found


def tool_spec(item) -> dict:
    """The wire entry for a tool as an Ask holds it: a function, a Tool, a wire dict (from history), or a
    name not looked up yet (kept as a bare name, so a row never fails to be written)."""
    if isinstance(item, Mapping):
        return dict(item)
    if isinstance(item, str):
        return {"type": "function", "function": {"name": item}}
    return as_tool(item).spec


def tool_name(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        return str((item.get("function") or {}).get("name", ""))
    return as_tool(item).name


def resolve(items, namespace: Mapping, source: str = "python") -> tuple:
    """Names typed in a cell or the panel -> the notebook's functions; everything else as it is."""
    out = []
    for item in items:
        if isinstance(item, str):
            name = item.strip()
            shown = {"magic": f"--tools {name}", "widget": f"the Tools field ({name})"}.get(source, f"tools={name!r}")
            obj = namespace.get(name) if name else None
            if obj is None:
                raise E.ParameterError(f"{shown}: no function named {name!r} in the notebook")
            if not callable(obj):
                raise E.ParameterError(f"{shown}: {name} is a {type(obj).__name__}, not a function")
            try:
                item = as_tool(obj)
            except E.ParameterError as exc:  # "tools: f(*args): ..." said as the user typed it
                raise E.ParameterError(str(exc).replace("tools: ", _PREFIX.get(source, "tools: "), 1)) from None
        if not isinstance(item, Mapping):
            item = as_tool(item)
        out.append(item)
    names = [tool_name(t) for t in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise E.ParameterError(f"tools: {', '.join(twice)} given twice; tool names must differ")
    return tuple(out)


def check_tools(ask, choice, said) -> None:
    """The tool options of an Ask make sense together, or one ParameterError line; `said(flag, arg)` is how
    the user typed an option (the flag in a cell, the argument in Python)."""
    for flag, arg, on in (("--tool-choice", "tool_choice", choice), ("--max-steps", "max_steps", ask.max_steps),
                          ("--approve", "approve", ask.approve)):
        if on not in (None, False) and not ask.tools:
            raise E.ParameterError(f"{said(flag, arg)} needs {said('--tools', 'tools')}")
    if choice not in (None, "auto", "required", "none"):
        names = [tool_name(t) for t in ask.tools]
        if choice not in names:
            raise E.ParameterError(f"{said('--tool-choice', 'tool_choice')} {choice}: not one of the tools "
                                   f"({', '.join(names)}); use auto, required, none or a tool's name")
    steps = ask.max_steps
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise E.ParameterError(f"{said('--max-steps', 'max_steps')} must be an integer ≥ 1 (got {steps!r})")


# -- the schema ----------------------------------------------------------------------------------
def docstring_parts(doc: str) -> tuple:
    """(the description: the docstring before its first section, {argument: its description}) from
    Google-style `Args:` sections and Sphinx `:param x:` lines."""
    summary, args, current, section = [], {}, None, None
    for line in doc.splitlines():
        sphinx = _SPHINX.match(line)
        if sphinx:
            current, section = sphinx.group(1), "args"
            args[current] = sphinx.group(2).strip()
            continue
        head = _SECTION.match(line)
        if head:
            section, current = ("args" if head.group(1).lower().startswith(("arg", "param")) else "other"), None
            continue
        if section is None:
            summary.append(line)
        elif section == "args" and line.strip() and not set(line.strip()) <= {"-"}:
            m = _ARG_LINE.match(line)
            if m and (current is None or len(line) - len(line.lstrip()) <= _indent_of(doc, current)):
                current = m.group(1)
                args[current] = m.group(2).strip()
            elif current:
                args[current] = (args[current] + " " + line.strip()).strip()
    return "\n".join(summary).strip(), args


def _indent_of(doc: str, name: str) -> int:
    for line in doc.splitlines():
        if re.match(rf"^\s*\*{{0,2}}{re.escape(name)}\b", line):
            return len(line) - len(line.lstrip())
    return 0


def _arguments_model(fn, name: str, arg_docs: dict):
    """A pydantic model of the function's parameters (fields renamed, so a parameter called `json` or
    `schema` cannot clash with BaseModel's attributes; the wire names are aliases)."""
    from pydantic import ConfigDict, Field, create_model
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise E.ParameterError(f"tools: {name}: Python cannot read its signature; wrap it in a def") from None
    try:
        hints = typing.get_type_hints(getattr(fn, "__call__", fn) if not inspect.isroutine(fn) else fn,
                                      include_extras=True)
    except Exception:  # a forward reference that does not resolve: the raw annotations
        hints = {}
    fields, aliases = {}, {}
    for i, p in enumerate(sig.parameters.values()):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise E.ParameterError(f"tools: {name}({'*' if p.kind == p.VAR_POSITIONAL else '**'}{p.name}): "
                                   "a tool takes named parameters only")
        kind = hints.get(p.name, p.annotation if p.annotation is not p.empty and not isinstance(p.annotation, str)
                         else Any)
        default = ... if p.default is p.empty else p.default
        said = {"description": arg_docs[p.name]} if arg_docs.get(p.name) else {}  # else Annotated's own stays
        fields[f"p{i}"] = (kind, Field(default, alias=p.name, **said))
        aliases[f"p{i}"] = p.name
    try:
        model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid", populate_by_name=False),
                             **fields)
    except Exception as exc:
        raise E.ParameterError(f"tools: {name}: pydantic cannot check its parameters "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return model, aliases


def _clean(node, in_map: bool = False):
    """The schema without pydantic's `title`s (noise the model pays tokens for); property names are kept."""
    if isinstance(node, list):
        return [_clean(x) for x in node]
    if not isinstance(node, dict):
        return node
    if in_map:  # `properties` / `$defs`: keys are names, values schemas
        return {k: _clean(v) for k, v in node.items()}
    return {k: _clean(v, in_map=k in ("properties", "$defs")) for k, v in node.items()
            if not (k == "title" and isinstance(v, str))}


def strict_allowed(schema) -> bool:
    """Whether Cerebras' strict mode takes `schema` as it is (rules in the module docstring)."""
    if not isinstance(schema, dict) or not set(schema) <= STRICT_KEYS:
        return False
    kind = schema.get("type")
    if kind is not None and not isinstance(kind, str):
        return False
    props = schema.get("properties")
    if kind == "object" or props is not None:
        if not props or set(schema.get("required") or ()) != set(props) \
                or schema.get("additionalProperties") not in (None, False):
            return False
    children = list((props or {}).values()) + list((schema.get("$defs") or {}).values())
    if "items" in schema:
        children.append(schema["items"])
    if "anyOf" in schema:
        if len(schema["anyOf"]) > MAX_ANY_OF:
            return False
        children += schema["anyOf"]
    return all(strict_allowed(c) for c in children)


def closed(schema):
    """Every object of the schema with `additionalProperties: false`."""
    if isinstance(schema, list):
        return [closed(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: ({n: closed(v) for n, v in schema[k].items()} if k in ("properties", "$defs") else closed(v))
           for k, v in schema.items()}
    if "properties" in out:
        out["additionalProperties"] = False
    return out


# -- calls -----------------------------------------------------------------------------------------
def validation_line(exc) -> str:
    """A pydantic ValidationError as one line naming each argument (the model's names, not ours)."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err.get("loc", ())) or "arguments"
        got = "" if err.get("type") == "missing" else f" (got {_short(json.dumps(err.get('input'), default=str), 40)})"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}{got}")
    return "; ".join(parts)


def _short(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n - 1] + "…"
