"""Cheap typed chunks: validate a stream's envelope once, then reuse it around each chunk's new text.

A Cerebras stream is thousands of chunks that are byte for byte the same except for one string: the
delta's `content` (chat) or the choice's `text` (completions). Full pydantic validation builds three
models per chunk (~2.3 us, more than `json.loads`). When a payload has exactly the bytes of the last
validated chunk before and after that string, and the string holds no quote, backslash or control byte,
JSON allows one reading: the last chunk with that string replaced. So that chunk is copied with a choice
holding the new text; choices (frozen models) are kept per distinct text and shared, since most tokens
of a stream recur. The result equals what validation builds (tests compare the two on every stream
shape). Anything else (the first chunk, role, finish, usage, logprobs or tool-call chunks, escaped text)
is validated in full and becomes the next envelope.
"""
from __future__ import annotations

import re
from typing import Optional

from pydantic import BaseModel

_SCALARS = (type(None), str, int, float, bool)
_UNPLAIN = re.compile(rb'["\\\x00-\x1f]').search  # what a JSON string holds only escaped (or ends it)
_new, _setattr = object.__new__, object.__setattr__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _plain(model: BaseModel, skip: str) -> bool:
    """Only immutable values besides `skip`, nothing extra or private: safe to share between copies."""
    return (not model.__pydantic_extra__ and model.__pydantic_private__ is None
            and all(type(v) in _SCALARS for k, v in model.__dict__.items() if k != skip))


def _copy(model: BaseModel, key: str, value) -> BaseModel:
    """The model with one field replaced, built the way pydantic builds it (dict, fields set, extra)."""
    new = _new(model.__class__)
    d = model.__dict__.copy()
    d[key] = value
    _setattr(new, "__dict__", d)
    _set_fields(new, model.__pydantic_fields_set__.copy())
    _set_extra(new, {})
    _set_private(new, None)
    return new


class Envelope:
    """The bytes around the one changing string, the chunk to copy, and the choices made so far."""

    __slots__ = ("prefix", "suffix", "size", "chunk", "choice", "delta", "field", "choices")
    MAX_CHOICES = 4096  # distinct texts kept per envelope; past that, new ones are built but not kept

    def __init__(self, prefix: bytes, suffix: bytes, chunk, choice, delta, field: str):
        self.prefix, self.suffix, self.size = prefix, suffix, len(prefix) + len(suffix)
        self.chunk, self.choice, self.delta, self.field = chunk, choice, delta, field
        self.choices: dict = {}

    @classmethod
    def learn(cls, payload: bytes, chunk) -> Optional["Envelope"]:
        """The envelope of a freshly validated chunk, or None when its shape is not the common one."""
        choices = chunk.__dict__.get("choices")
        if not choices or len(choices) != 1 or not _plain(chunk, "choices"):
            return None
        choice = choices[0]
        delta = choice.__dict__.get("delta")
        if delta is None:  # completions: the text sits on the choice
            owner, field = choice, "text"
        elif isinstance(delta, BaseModel) and _plain(choice, "delta"):
            owner = delta
            field = "content" if isinstance(delta.__dict__.get("content"), str) else "reasoning"
        else:
            return None
        text = owner.__dict__.get(field)
        if not isinstance(text, str) or not _plain(owner, ""):
            return None
        key = b'"' + field.encode() + b'":"'
        start = payload.find(key) + len(key)
        raw = text.encode()
        end = start + len(raw)
        if (start < len(key) or payload.find(key, start) >= 0 or payload[start:end] != raw
                or payload[end:end + 1] != b'"'):
            return None  # the key twice, or escapes in the text: validate every such chunk
        return cls(payload[:start], payload[end:], chunk, choice, delta, field)

    def build(self, payload: bytes):
        """The chunk for a payload inside this envelope; None when it is not (validate it instead)."""
        if (len(payload) < self.size or not payload.startswith(self.prefix)
                or not payload.endswith(self.suffix)):
            return None
        raw = payload[len(self.prefix):len(payload) - len(self.suffix)]
        choice = self.choices.get(raw)
        if choice is None:
            choice = self._choice(raw)
            if choice is None:
                return None
        return _copy(self.chunk, "choices", [choice])

    def _choice(self, raw: bytes):
        """A choice holding this text, if the bytes are a plain JSON string; kept for its next use."""
        if _UNPLAIN(raw):
            return None
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return None
        if self.delta is None:
            choice = _copy(self.choice, "text", text)
        else:
            choice = _copy(self.choice, "delta", _copy(self.delta, self.field, text))
        if len(self.choices) < self.MAX_CHOICES:
            self.choices[raw] = choice
        return choice
