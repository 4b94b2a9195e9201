"""The SSE decoder on its own: every framing the spec allows, split at every possible byte."""
import json
import random

import pytest

from cerebras_magic.api._sse import SSEDecoder

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


def _payloads_fast(stream: bytes, cuts) -> list:
    """The client's hot path: feed_data returns the data payloads only."""
    dec, out, prev = SSEDecoder(), [], 0
    for cut in list(cuts) + [len(stream)]:
        out += dec.feed_data(stream[prev:cut])
        prev = cut
    return [json.loads(d) for d in out + [e.data for e in dec.close()]]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_fast_path_every_split_point(eol):
    stream = b"".join(_frame(e, eol) for e in EVENTS)
    for cut in range(len(stream) + 1):
        assert _payloads_fast(stream, [cut]) == EVENTS


@pytest.mark.parametrize("stream", [
    b'data: {"a":1}\n\n: ping\n\ndata: {"a":2}\n\n',          # a comment between events
    b'data: {"a":\ndata: 1}\n\ndata: {"a":2}\n\n',            # multi-line data
    b'data: {"a":1}\n\n\n\ndata: {"a":2}\n\n',                # stray blank lines
    b'event: message\ndata: {"a":1}\n\nid: 3\ndata: {"a":2}\n\n',  # other fields
    b'data:{"a":1}\n\ndata: {"a":2}\n\n',                     # no space after the colon
])
def test_fast_path_falls_back_for_every_other_framing(stream):
    assert _payloads_fast(stream, []) == [{"a": 1}, {"a": 2}]
    rng = random.Random(3)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 3))
        assert _payloads_fast(stream, cuts) == [{"a": 1}, {"a": 2}]
