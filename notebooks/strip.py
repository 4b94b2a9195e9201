"""Make executed notebooks fit to commit: `python notebooks/strip.py notebooks/*.ipynb`.

Saved widget state would embed a copy of the panel's JavaScript and CSS (anywidget's `_esm`/`_css`) that
goes stale with the next change to js/, and a widget view cannot run without a kernel anyway. So the state
is dropped and widget outputs keep their plain-text form, and so are nbconvert's per-cell timestamps;
everything else is left as executed.
tests/test_notebooks_clean.py fails on a notebook that still carries either.
"""
from __future__ import annotations

import sys

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def strip(path: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    changed = nb.metadata.pop("widgets", None) is not None
    for cell in nb.cells:
        changed |= cell.metadata.pop("execution", None) is not None  # nbconvert's timestamps: noise in diffs
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}):
                del out["data"][WIDGET_VIEW]
                changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(("stripped " if strip(arg) else "clean    ") + arg)
