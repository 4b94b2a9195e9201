"""The history table as a pandas DataFrame: built column-wise from one 2-D object array, known columns typed.

pandas and numpy are imported inside `frame()` only, so importing the store stays cheap.
"""
from __future__ import annotations

import operator
from typing import Dict, List


def records(rows: List[dict], names: List[str]) -> List[tuple]:
    """Rows as tuples in `names` order (None for a missing key)."""
    try:
        return list(map(operator.itemgetter(*names), rows))
    except KeyError:
        return [tuple(map(row.get, names)) for row in rows]


def frame(names: List[str], records: List[tuple], columns: Dict[str, str]):
    """The DataFrame of `records` (tuples in `names` order): `columns` (name -> SQLite type) first, in their
    order, then the other names; started_at as datetime64 UTC, INTEGER columns Int64, REAL ones float64."""
    import numpy as np
    import pandas as pd

    table = np.empty((len(records), len(names)), dtype=object)
    if records:
        table[:] = records
    position = {name: i for i, name in enumerate(names)}
    ordered = list(columns) + [name for name in names if name not in columns]
    missing = np.full(len(records), None, dtype=object)
    data = {}
    for name in ordered:
        values = table[:, position[name]] if name in position else missing
        kind = columns.get(name)
        if name == "started_at":
            data[name] = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        elif kind in ("INTEGER", "REAL"):
            try:
                floats = values.astype("float64")
            except (TypeError, ValueError):
                floats = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy("float64")
            # counts read as counts (25, not 25.0), still with a missing value where there is none
            data[name] = pd.array(floats, dtype="Int64") if kind == "INTEGER" else floats
        else:
            data[name] = pd.Series(values, dtype=object, copy=False)
    return pd.DataFrame(data, columns=ordered, copy=False)
