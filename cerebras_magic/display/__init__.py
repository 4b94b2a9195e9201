"""Showing results: the cell's live view and final render, and the token heat-map. Model output is
untrusted text; every view escapes it through _escape.py.

    _escape.py   plain() and html_text(): the one place that makes model text safe to show
    _cell.py     the cell renderer (bounded live updates, safe Markdown, the stats footer)
    _tokens.py   tokens regrouped into characters, the token table and its summary
    _heatmap.py  the static logprobs heat-map
    _tables.py   the line commands' tables: models with their catalogue, rate limits
    _progress.py a batch's progress bar (notebook) or line (terminal), and its summary
"""
from __future__ import annotations

from ._cell import (LIVE_CHARS, CellRenderer, dry_run_bundle, final_bundle, live_text, logprobs_html, logprobs_summary,
                    show)
from ._escape import html_text, plain
from ._tables import limits_frame, models_frame

__all__ = ["LIVE_CHARS", "CellRenderer", "dry_run_bundle", "final_bundle", "html_text", "limits_frame", "live_text",
           "logprobs_html", "logprobs_summary", "models_frame", "plain", "show"]
