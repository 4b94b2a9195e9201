"""Deterministic JSON values that satisfy a JSON Schema, for `response_format` and tool arguments.

Covers what pydantic and hand-written tool schemas use: object/properties/required, string (enum, const,
common formats, length bounds), integer, number, boolean, null, array/items, `$defs`/`$ref`, anyOf/oneOf/
allOf and type lists. Unsupported keywords (pattern, ...) are ignored, so exotic schemas may not validate.
"""
from __future__ import annotations

import random

from .generate import WORDS

PHRASE_EXTRAS = ("café", "naïve", "über", "🚀")
FORMATS = {
    "date": "2024-05-17", "date-time": "2024-05-17T12:30:00Z", "time": "12:30:00", "email": "ada@example.com",
    "uri": "https://example.com/docs", "url": "https://example.com/docs", "hostname": "example.com",
    "uuid": "123e4567-e89b-42d3-a456-426614174000", "ipv4": "192.0.2.1", "ipv6": "2001:db8::1",
}


class SchemaFaker:
    """Walks one schema with one RNG; the first free-text string carries a non-ASCII word."""

    def __init__(self, rng: random.Random, root: dict):
        self.rng, self.root, self.needs_extra = rng, root if isinstance(root, dict) else {}, True

    def phrase(self, lo: int = 2, hi: int = 6) -> str:
        words = [WORDS[self.rng.randrange(len(WORDS))] for _ in range(self.rng.randint(lo, hi))]
        if self.needs_extra:
            words.insert(1, PHRASE_EXTRAS[self.rng.randrange(len(PHRASE_EXTRAS))])
            self.needs_extra = False
        return " ".join(words).capitalize()

    def resolve(self, schema: dict) -> dict:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            node = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                if part:
                    node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema, seen = {**node, **rest}, seen + 1
        return schema if isinstance(schema, dict) else {}

    def value(self, schema, depth: int = 0):
        schema = self.resolve(schema if isinstance(schema, dict) else {})
        rng = self.rng
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][rng.randrange(len(schema["enum"]))]
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                required = list(merged.get("required", [])) + list(part.get("required", []))
                merged = {**merged, **part, "properties": props, "required": required}
            return self.value(merged, depth)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self.resolve(o) for o in schema[key]]
                non_null = [o for o in options if o.get("type") != "null"]
                pick = (non_null[0] if non_null and depth < 6 else options[-1])
                rest = {k: v for k, v in schema.items() if k not in (key, "default")}
                return self.value({**rest, **pick}, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0]
        if kind is None:
            kind = ("object" if "properties" in schema else "array" if "items" in schema
                    else schema.get("default") is not None and _kind_of(schema["default"]) or "string")
        return getattr(self, "make_" + str(kind), self.make_string)(schema, depth)

    def make_object(self, schema: dict, depth: int):
        props = schema.get("properties") or {}
        if not props and schema.get("additionalProperties") not in (None, False) and depth < 6:
            extra = schema["additionalProperties"]
            return {"key": self.value(extra if isinstance(extra, dict) else {}, depth + 1)}
        required = set(schema.get("required") or ())
        keep = props if depth < 6 else {k: v for k, v in props.items() if k in required}
        return {name: self.value(sub, depth + 1) for name, sub in keep.items()}

    def make_array(self, schema: dict, depth: int):
        prefix = schema.get("prefixItems") or []
        lo, hi = schema.get("minItems", 1 if depth < 4 else 0), schema.get("maxItems", 3)
        count = max(len(prefix), min(max(lo, self.rng.randint(min(lo, hi), hi)), hi) if depth < 6 else lo)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [self.value(prefix[i] if i < len(prefix) else items, depth + 1) for i in range(count)]

    def make_string(self, schema: dict, depth: int):
        text = FORMATS.get(schema.get("format", "")) or self.phrase()
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        while len(text) < lo:
            text += " " + WORDS[self.rng.randrange(len(WORDS))]
        return text[:hi] if hi is not None else text

    def make_integer(self, schema: dict, depth: int):
        lo, hi = _bounds(schema, 0, 100, 1)
        return self.rng.randint(int(lo), max(int(lo), int(hi)))

    def make_number(self, schema: dict, depth: int):
        lo, hi = _bounds(schema, 0.0, 100.0, 0.01)
        return round(self.rng.uniform(lo, hi), 2) if hi - lo >= 0.02 else lo

    def make_boolean(self, schema: dict, depth: int):
        return self.rng.random() < 0.5

    def make_null(self, schema: dict, depth: int):
        return None


def _bounds(schema: dict, lo, hi, step):
    if "minimum" in schema:
        lo = schema["minimum"]
    if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        lo = schema["exclusiveMinimum"] + step
    if "maximum" in schema:
        hi = schema["maximum"]
    if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
        hi = schema["exclusiveMaximum"] - step
    if hi < lo:
        hi = lo + (hi if "maximum" not in schema and "exclusiveMaximum" not in schema else 0)
    return lo, max(lo, hi)


def _kind_of(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}.get(
        type(value), "string")


def fake_json(rng: random.Random, schema) -> object:
    """A value valid against `schema` (best effort for keywords listed in the module docstring)."""
    return SchemaFaker(rng, schema).value(schema)
