"""Folding chunks into a Result: text and reasoning grow by pieces and are joined only when read."""
import json

from cerebras_magic.core._result import Result
from cerebras_magic.api._types import ChatCompletionChunk


def chunk(**delta) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate_json(json.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}))


def test_text_and_reasoning_fold_piece_by_piece():
    r = Result()
    pieces = [f"w{i} " for i in range(1000)]
    for i, piece in enumerate(pieces):
        r.add_chunk(chunk(reasoning="r") if i % 10 == 0 else chunk(content=piece))
        if i == 500:  # a live view reads midway: later pieces still land after it
            assert r.text == "".join(p for j, p in enumerate(pieces[:501]) if j % 10)
    assert r.text == "".join(p for j, p in enumerate(pieces) if j % 10)
    assert r.reasoning == "r" * 100 and r.chunks == 1000


def test_pieces_are_joined_once_when_read_not_on_every_chunk():
    r = Result()
    for i in range(300):
        r.add_chunk(chunk(content="x"))
    assert len(r._text_parts) == 300  # appending never copied the text so far
    assert r.text == "x" * 300 and len(r._text_parts) == 1
    r.text = "replaced"
    assert r.text == "replaced" and str(Result(text="given")) == "given" and Result().text == ""
