"""A batch's input as rows, and a template filled from each row by the cell's own rules (core/_template.py).

What a row can be: a DataFrame row (`{column}`), a mapping (`{key}`), or any other value, which `{}` stands
for (a Series, a list of strings, a generator). Rows are read lazily, one at a time, so a generator of a
million items is never held as a list. Placeholders are checked against the columns (a DataFrame) or the
first row before anything is sent; a later row missing a key becomes that row's error.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any, Iterator, Optional

from .. import _errors as E
from ._template import fields, interpolate

VALUE = "__cm_value__"                       # what `{}` becomes, so one pass of interpolate() fills everything
_VALUE_SLOT = re.compile(r"\{\{|\}\}|\{\}")
_FORMATTED = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)(![rsa])?(:[^{}]*)?\}")  # {name!r}, {name:spec}


class Rows:
    """(position, index label, namespace or value) for each row, and what is known before reading them."""

    def __init__(self, data: Any):
        self.data, self.kind, self.columns = data, "values", None
        self.total: Optional[int] = None
        self.index = None                    # the output's index: the input's (frames, Series), else positions
        self._first = None
        if _is_frame(data):
            self.kind, self.columns, self.total, self.index = "frame", [str(c) for c in data.columns], len(data), data.index
        elif _is_series(data):
            self.total, self.index = len(data), data.index
        elif isinstance(data, (str, bytes)) or isinstance(data, Mapping) or _is_dataset(data):
            what = "a ray.data.Dataset: use cerebras_magic.ray.batch" if _is_dataset(data) else \
                f"a {type(data).__name__} (one {'text' if isinstance(data, (str, bytes)) else 'mapping'})"
            raise E.ParameterError(f"batch data is {what}; give a DataFrame, a Series, or an iterable of rows "
                                   "(texts or dicts), e.g. cm.batch(['a', 'b'], 'Translate: {}')")
        else:
            try:
                self._iter = iter(data)
            except TypeError:
                raise E.ParameterError(f"batch data is a {type(data).__name__}, which is not iterable; give a "
                                       "DataFrame, a Series, or an iterable of rows (texts or dicts)") from None
            try:
                self.total = len(data)
            except TypeError:
                self.total = None            # a generator: counted as it is read
            self._first = next(self._iter, _END)

    def __iter__(self) -> Iterator[tuple]:
        if self.kind == "frame":
            labels = iter(self.index)
            for pos, values in enumerate(self.data.itertuples(index=False, name=None)):
                yield pos, next(labels), dict(zip(self.columns, values))
        elif self.index is not None:
            yield from ((pos, label, value) for pos, (label, value) in enumerate(self.data.items()))
        elif self._first is not _END:
            first, self._first = self._first, _END
            for pos, value in enumerate(itertools.chain((first,), self._iter)):
                yield pos, pos, value

    def label(self, pos: int) -> Any:
        """The index label of the row at `pos` (its position when the input has no index)."""
        return pos if self.index is None else self.index[pos]

    def check(self, template: str) -> None:
        """One line naming the first placeholder no row can fill, before anything is sent: a `{name}` no
        column or key has, `{}` over rows that have columns, a format spec on a column (not applied), or no
        placeholder at all over many rows (the same request N times)."""
        if not isinstance(template, str):
            raise E.ParameterError(f"batch template must be a str with {{column}} or {{}} placeholders, "
                                   f"not {type(template).__name__}")
        names = fields(template)
        value_slot = any(m.group() == "{}" for m in _VALUE_SLOT.finditer(template))
        if self.kind == "frame":
            known = self.columns
        elif self.index is None and isinstance(self._first, Mapping):
            known = [str(k) for k in self._first]
        elif self.index is None and self._first is _END:
            return                           # no rows at all: nothing to fill, nothing is sent
        else:
            if names:
                sample = self._first if self.index is None else (self.data.iloc[0] if len(self.data) else None)
                raise E.ParameterError(f"{{{names[0]}}} in the template: the rows are plain values "
                                       f"({type(sample).__name__}), not columns; write {{}} for the value, or give a "
                                       "DataFrame or dicts")
            if not value_slot:
                self._no_placeholder()
            return
        what = "this DataFrame's columns" if self.kind == "frame" else "the first row's keys"
        if value_slot:
            first = known[0] if known else "name"
            raise E.ParameterError(f"{{}} in the template stands for the value of a Series or list; {what}: "
                                   f"{', '.join(known) or '(none)'} (write {{{first}}})")
        for name in names:
            if name not in known:
                where = "column" if self.kind == "frame" else "key in the first row"
                raise E.ParameterError(f"{{{name}}} in the template: no {where} named {name!r}; "
                                       f"{'columns' if self.kind == 'frame' else 'keys'}: {', '.join(known) or '(none)'}")
        for m in _FORMATTED.finditer(template):
            name, conversion, spec = m.group(1), m.group(2), m.group(3)
            if name in known and (conversion or spec):
                prepared = "map(repr)" if conversion == "!r" else "map(str)" if conversion else \
                    f"map({'{' + spec + '}'!r}.format)"
                how = (f"df.assign({name}=df[{name!r}].{prepared})" if self.kind == "frame" and name.isidentifier()
                       else f"the {name!r} {'column' if self.kind == 'frame' else 'key'} prepared with .{prepared}")
                raise E.ParameterError(f"{m.group()} in the template: a batch fills {{{name}}} as it is and does not "
                                       f"apply format specs or !conversions (the text would be sent as written); "
                                       f"prepare the value instead, e.g. {how}, and write {{{name}}}")
        if not names:
            self._no_placeholder()

    def _no_placeholder(self) -> None:
        """A template that fills nothing sends the same request for every row: one line, unless one row."""
        if self.total in (0, 1):
            return
        rows = f"{self.total:,} rows" if self.total is not None else "every row"
        raise E.ParameterError(f"the batch template has no {{column}} or {{}} placeholder, so {rows} would send the "
                               "same request; to send one prompt several times on purpose use cm.compare(prompt, n=N) "
                               "(or cm.batch([prompt] * N, '{}'))")


def filler(template: str):
    """fill(row) -> the prompt for one row: `{}` is the row's value, `{name}` its column or key."""
    slotted = _VALUE_SLOT.sub(lambda m: "{" + VALUE + "}" if m.group() == "{}" else m.group(), template)

    def fill(row: Any) -> str:
        if isinstance(row, Mapping):
            return interpolate(template, row)
        return interpolate(slotted, {VALUE: row})

    return fill


_END = object()


def _is_frame(data) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "itertuples")


def _is_series(data) -> bool:
    return type(data).__name__ == "Series" and hasattr(data, "items") and hasattr(data, "iloc")


def _is_dataset(data) -> bool:
    return type(data).__module__.startswith("ray.data")
