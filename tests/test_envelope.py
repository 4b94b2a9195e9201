"""Chunks built from a stream's envelope (envelope.py) must be exactly what full validation builds."""
import random

import pytest
from pydantic import BaseModel, ValidationError

import cerebras_magic as cm
from cerebras_magic.api._envelope import Envelope
from cerebras_magic.api._streaming import _StreamBase
from cerebras_magic.api._types import ChatCompletionChunk, CompletionChunk

KEY = "test-key"
MODEL = "llama-3.3-70b"  # no reasoning: these tests read the answer under small max tokens
CHAT = (b'{"id":"chatcmpl-1","choices":[{"delta":{"content":"WORD"},"index":0}],"created":1795335140,'
        b'"model":"llama3.1-8b","system_fingerprint":"fp_1","object":"chat.completion.chunk"}')
TEXT = (b'{"id":"cmpl-1","choices":[{"index":0,"text":"WORD","finish_reason":null}],"created":1795335140,'
        b'"model":"llama3.1-8b","object":"text_completion"}')


def same(a, b, where="chunk"):
    """Equal values, types, fields-set and extras, all the way down."""
    assert type(a) is type(b), where
    if isinstance(a, BaseModel):
        assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__, where
        assert a.__pydantic_extra__ == b.__pydantic_extra__ and a.__pydantic_private__ == b.__pydantic_private__
        assert list(a.__dict__) == list(b.__dict__), where
        for key in a.__dict__:
            same(a.__dict__[key], b.__dict__[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture
def recorded(monkeypatch):
    """Every (payload, chunk, built-from-envelope) the streams of this test hand out."""
    seen, built = [], []
    real_chunk, real_build = _StreamBase._chunk, Envelope.build

    def chunk(self, data):
        obj = real_chunk(self, data)
        seen.append((data, obj, self._model))
        return obj

    def build(self, payload):
        obj = real_build(self, payload)
        built.append(obj is not None)
        return obj
    monkeypatch.setattr(_StreamBase, "_chunk", chunk)
    monkeypatch.setattr(Envelope, "build", build)
    return seen, built


@pytest.mark.parametrize("kind, params", [
    ("chat", {}),
    ("chat", {"logprobs": True, "top_logprobs": 3}),
    ("chat", {"temperature": 1.2, "top_p": 0.5}),
    ("completion", {}),
    ("completion", {"echo": True, "logprobs": 2}),
])
def test_streamed_chunks_equal_full_validation(fake_server, recorded, kind, params):
    seen, built = recorded
    with cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url) as c:
        for seed in range(6):
            call = c.chat if kind == "chat" else c.complete
            chunks = list(call("Tell me about caf\u00e9s and \U0001F600", stream=True, seed=seed,
                               max_completion_tokens=300, min_completion_tokens=200, **params) if kind == "chat" else
                          call("Once upon a time", stream=True, seed=seed, max_tokens=300, min_tokens=200, **params))
            assert chunks
    assert len(seen) > 6 * 200
    for data, obj, model in seen:
        if obj is not None:
            same(obj, model.__pydantic_validator__.validate_json(data))
    if "logprobs" not in params:  # each logprobs chunk differs beyond its text: all validated in full
        assert sum(built) > 0.8 * len(seen), "the envelope path was not taken"


def _envelope(template: bytes, model):
    payload = template.replace(b"WORD", b"seed")
    env = Envelope.learn(payload, model.__pydantic_validator__.validate_json(payload))
    assert env is not None
    return env


PIECES = [b"a", b" ", b"Z9", b'"', b"\\", b"\\n", b"\\u00e9", b'\\"', b"\\\\", b"\x00", b"\x1f", b"\x7f", b"\t",
          "\u00e9".encode(), "\U0001F600".encode(), "\u2028".encode(), b"\xff", b"\xe2\x82", b"}", b"]", b",",
          b'","index":1', b"{"]


@pytest.mark.parametrize("template, model", [(CHAT, ChatCompletionChunk), (TEXT, CompletionChunk)])
def test_envelope_never_disagrees_with_validation(template, model):
    env, rng, hits = _envelope(template, model), random.Random(7), 0
    for _ in range(3000):
        middle = b"".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 6)))
        payload = template.replace(b"WORD", middle)
        obj = env.build(payload)
        try:
            expected = model.__pydantic_validator__.validate_json(payload)
        except ValidationError:
            expected = None
        if obj is not None:
            hits += 1
            assert expected is not None, payload
            same(obj, expected)
    assert hits > 300


def test_payloads_outside_the_envelope_are_not_built():
    env = _envelope(CHAT, ChatCompletionChunk)
    assert env.build(CHAT.replace(b"WORD", b"x")) is not None
    for other in (CHAT.replace(b'"created":1795335140', b'"created":1795335141'),   # another second
                  CHAT.replace(b'"index":0}', b'"index":0,"finish_reason":"stop"}'),  # a finish
                  CHAT.replace(b'"content":"WORD"', b'"content": "x"'),               # spacing
                  CHAT[:60], b"", b"[DONE]"):
        assert env.build(other.replace(b"WORD", b"x")) is None, other


@pytest.mark.parametrize("payload", [
    CHAT.replace(b'"index":0}', b'"index":0,"logprobs":{"content":[]}}'),
    CHAT.replace(b'"object"', b'"usage":{"total_tokens":3},"object"'),
    CHAT.replace(b'{"content":"WORD"}', b'{"tool_calls":[{"index":0,"function":{"name":"f"}}]}'),
    CHAT.replace(b'"object"', b'"unknown":[1],"object"'),
    CHAT.replace(b"WORD", b"a\\nb"),
    CHAT.replace(b'"WORD"', b'"b","content":"b"'),  # a repeated key: JSON keeps the last one
    CHAT.replace(b"[{", b"[{\"delta\":{\"content\":\"x\"},\"index\":1},{"),
])
def test_no_envelope_for_chunks_that_are_not_the_common_shape(payload):
    assert Envelope.learn(payload, ChatCompletionChunk.__pydantic_validator__.validate_json(payload)) is None


def test_shared_choices_are_frozen_and_the_chunks_are_not_shared(fake_server):
    with cm.Client(api_key=KEY, model=MODEL, base_url=fake_server.base_url) as c:
        chunks = list(c.chat("many repeated words", stream=True, seed=2, min_completion_tokens=400))
    by_text = {}
    for chunk in chunks[1:-1]:
        by_text.setdefault(chunk.text, []).append(chunk)
    repeated = [group for group in by_text.values() if len(group) > 1]
    assert repeated and all(len({id(ch) for ch in group}) == len(group) for group in repeated)
    first, second = repeated[0][:2]
    assert first.choices[0] is second.choices[0]  # one choice per distinct text
    with pytest.raises(ValidationError, match="frozen"):
        first.choices[0].delta.content = "changed"
    with pytest.raises(ValidationError, match="frozen"):
        first.choices[0].index = 3
    first.id = "mine"  # the chunk itself is the caller's own
    assert second.id != "mine"

