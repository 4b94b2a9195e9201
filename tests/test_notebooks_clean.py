"""Committed notebooks carry no saved widget state: it would hold a stale copy of js/ (notebooks/strip.py)."""
import pathlib

import nbformat
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_saved_widget_state_or_front_end_code(path):
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata
    text = path.read_text()
    assert '"_esm"' not in text and '"_css"' not in text and "widget-view+json" not in text


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "playground.ipynb", "logprobs.ipynb"}
