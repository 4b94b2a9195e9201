"""Reasoning inside the answer's text: `<think>…</think>` at its start (Qwen and GLM in the `raw` reasoning
format) is split out as it streams, so it shows and is kept apart from the answer like a `reasoning` field.

Streamed text arrives in arbitrary pieces, so a tag may be cut anywhere (`<thi` + `nk>`): the splitter
holds back only what could still be the start of a tag, never more than the tag's length.
"""
from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Feed content pieces; get (reasoning, answer) pieces back. Only a block that opens the answer (after
    any whitespace) counts: a `<think>` later in an answer is text the model wrote."""

    def __init__(self) -> None:
        self.state = "start"   # start: only whitespace yet; think: in the block; after: just past it; answer
        self._held = ""

    def feed(self, piece: str) -> tuple:
        if self.state == "answer":
            return "", piece
        if self.state == "after":  # the blank lines between the block and the answer are neither
            piece = piece.lstrip("\n")
            if piece:
                self.state = "answer"
            return "", piece
        text = self._held + piece
        self._held = ""
        if self.state == "start":
            stripped = text.lstrip()
            if not stripped:
                self._held = text
                return "", ""
            if OPEN.startswith(stripped) and len(stripped) < len(OPEN):
                self._held = text  # maybe the start of the tag
                return "", ""
            if not stripped.startswith(OPEN):
                self.state = "answer"
                return "", text
            self.state, text = "think", stripped[len(OPEN):]
        end = text.find(CLOSE)
        if end >= 0:
            self.state = "after"
            return text[:end], self.feed(text[end + len(CLOSE):])[1]
        keep = _partial_suffix(text, CLOSE)
        if keep:
            self._held, text = text[-keep:], text[:-keep]
        return text, ""

    def close(self) -> tuple:
        """The end of the stream: whatever was held back belongs where the state says."""
        held, self._held = self._held, ""
        if self.state == "think":
            return held, ""
        return "", held


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of `text` could begin `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0
