"""An incremental Server-Sent Events decoder that works on bytes (sans-IO).

Feed it whatever the network delivered; it returns the complete events. It works on bytes until an event
is complete, so a UTF-8 character split across reads is never decoded in halves. It follows the SSE
rules (LF, CRLF or CR line ends, comment lines, multi-line `data:`, `event:`), with a fast path for the
common case `data: {...}\\n\\n` that skips per-line work entirely.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional

DONE = b"[DONE]"


class Event(NamedTuple):
    data: bytes
    event: Optional[str] = None
    id: Optional[str] = None


class SSEDecoder:
    __slots__ = ("_buf", "_pending_cr", "last_event_id")

    def __init__(self) -> None:
        self._buf = b""
        self._pending_cr = False
        self.last_event_id: Optional[str] = None

    def feed(self, data: bytes) -> List[Event]:
        """Add bytes from the network; return the events they completed."""
        complete = self._complete(data)
        return [ev for ev in map(self._event, complete.split(b"\n\n")) if ev is not None] if complete else []

    def feed_data(self, data: bytes) -> List[bytes]:
        """Like feed, but only the data payloads: the client's hot path.

        When the completed text is nothing but `data: <one line>\n\n` events (every real Cerebras
        stream), one C-level split yields every payload, and the newline count proves the split right:
        each separator holds two newlines and the end two more, so any other newline (comments,
        multi-line data, other fields, stray blank lines) breaks the equality and takes the general
        parser."""
        complete = self._complete(data)
        if not complete:
            return []
        if complete.startswith(b"data: "):
            payloads = complete[6:-2].split(b"\n\ndata: ")
            if complete.count(b"\n") == 2 * len(payloads):
                return payloads
        return [ev.data for ev in map(self._event, complete.split(b"\n\n")) if ev is not None]

    def _complete(self, data: bytes) -> bytes:
        """Everything up to the last blank line (line ends normalized to LF); the rest waits for more."""
        if not data:
            return b""
        if self._pending_cr:  # a CR ended the last read: a following LF belongs to it
            self._pending_cr = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            if data[-1:] == b"\r":
                self._pending_cr = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + data if self._buf else data
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return b""
        self._buf = buf[end + 2:]
        return buf[:end + 2]

    def _event(self, block: bytes) -> Optional[Event]:
        if block.startswith(b"data: ") and b"\n" not in block:
            return Event(block[6:])
        return self._parse_block(block) if block else None

    def close(self) -> List[Event]:
        """End of body: a last event without its blank line still counts (servers differ)."""
        rest, self._buf = self._buf, b""
        if not rest.strip():
            return []
        ev = self._parse_block(rest.rstrip(b"\n"))
        return [ev] if ev is not None else []

    def _parse_block(self, block: bytes) -> Optional[Event]:
        data: List[bytes] = []
        event = None
        for line in block.split(b"\n"):
            if not line or line[:1] == b":":
                continue
            name, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
            elif name == b"id" and b"\0" not in value:
                self.last_event_id = value.decode("utf-8", "replace")
        if not data:
            return None
        return Event(b"\n".join(data), event, self.last_event_id)
