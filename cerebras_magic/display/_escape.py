"""Model output is untrusted text: the one place that makes it safe to show, in a terminal or in HTML.

`plain` makes control characters visible (an ANSI escape cannot recolour the terminal, a bidi override
cannot reorder what is shown); `html_text` is that, HTML-escaped. Every view (cell, heat-map, grid, panel
stats) builds on these two.
"""
from __future__ import annotations

import html
import re

# C0 and C1 controls (\x9b starts an escape sequence on some terminals), bidi overrides and isolates, and the
# line/paragraph separators that would break a one-line view
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """Text safe for a terminal: control characters (ANSI escapes, bidi overrides) made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def html_text(text: str) -> str:
    """Text safe inside HTML (element content or a quoted attribute)."""
    return html.escape(plain(text), quote=True)
