"""The SSE decoder on its own: every framing the spec allows, split at every possible byte."""
import json
import random

import pytest

from cerebras_magic.sse import SSEDecoder

EVENTS = [{"i": i, "text": t} for i, t in enumerate(["Olá", " 🚀 launch", "日本語", "\n", "a:b", ""])]


def _decode_all(stream: bytes, cuts) -> list:
    dec, out, prev = SSEDecoder(), [], 0
    for cut in list(cuts) + [len(stream)]:
        out += dec.feed(stream[prev:cut])
        prev = cut
    return out + dec.close()


def _payloads(events):
    return [json.loads(e.data) for e in events]


def _frame(ev: dict, eol: bytes = b"\n") -> bytes:
    return b"data: " + json.dumps(ev, ensure_ascii=False).encode() + eol + eol


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_split_point_and_line_ending(eol):
    stream = b"".join(_frame(e, eol) for e in EVENTS)
    for cut in range(len(stream) + 1):  # every single split point, including inside UTF-8 characters
        assert _payloads(_decode_all(stream, [cut])) == EVENTS


def test_random_many_splits_keep_utf8_intact():
    stream = b"".join(_frame(e, b"\r\n") for e in EVENTS * 20)
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), 40))
        assert _payloads(_decode_all(stream, cuts)) == EVENTS * 20


def test_comments_event_id_and_multiline_data():
    stream = (b": keep-alive\n\n"
              b"event: message\nid: 7\ndata: {\"a\":\ndata: 1}\n\n"
              b":ping\ndata:{\"b\":2}\n\n")
    events = _decode_all(stream, [])
    assert [e.data for e in events] == [b'{"a":\n1}', b'{"b":2}']
    assert events[0].event == "message" and events[0].id == "7"
    assert _payloads(events) == [{"a": 1}, {"b": 2}]


def test_done_marker_and_clean_end_without_blank_line():
    dec = SSEDecoder()
    assert [e.data for e in dec.feed(b'data: {"x":1}\n\ndata: [DONE]\n\n')] == [b'{"x":1}', b"[DONE]"]
    dec = SSEDecoder()
    assert dec.feed(b'data: {"x":2}') == []
    assert [e.data for e in dec.close()] == [b'{"x":2}']  # the body ended right after the last chunk


def test_blank_lines_and_empty_events_are_ignored():
    assert _decode_all(b"\n\n\n\n: only a comment\n\n", []) == []
    assert [e.data for e in _decode_all(b"\n\n\ndata: x\n\n\n\n", [])] == [b"x"]
