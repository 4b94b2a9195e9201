"""The notebook front ends: the %%cerebras magic (_magic.py) and the playground panel (_playground.py,
whose JavaScript and CSS are js/playground.js and js/playground.css). Both build an Ask and send it through
Session.run. The panel (anywidget, ipywidgets) loads only when first used, so `%load_ext` stays cheap."""
from __future__ import annotations


def __getattr__(name: str):
    if name == "Playground":
        from ._playground import Playground
        return Playground
    raise AttributeError(f"module 'cerebras_magic.notebook' has no attribute {name!r}")
