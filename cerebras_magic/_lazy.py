"""Lazy public names (PEP 562) for the package and its layers: a name's module is imported when the name
is first used, so `%load_ext` and a look at the wire facts cost no httpx, pydantic or pandas import."""
from __future__ import annotations

import importlib


def loader(package: str, names: dict):
    """A module `__getattr__` for `package` that imports `names[name]` (a module relative to it) on first use."""
    module_globals = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{where}", package), name)
        module_globals[name] = value
        return value

    return __getattr__
