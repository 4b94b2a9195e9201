"""History: append latency to SQLite (median, p99) and 100,000 stored rows -> DataFrame."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path


def _row(i: int) -> dict:
    from cerebras_magic.core._result import Result
    r = Result(endpoint="chat", model="llama3.1-8b", prompt=f"prompt number {i} " * 4, source="bench",
               messages=[{"role": "user", "content": f"prompt number {i}"}], params={"temperature": 0.7})
    r.text = "a typical answer of a few sentences. " * 8
    r.finish("ok")
    return r.to_row()


def measure(appends: int = 2000, rows: int = 100_000) -> dict:
    from cerebras_magic.core._store import History
    with tempfile.TemporaryDirectory() as tmp:
        h = History(Path(tmp) / "h.sqlite")
        row = _row(0)
        h.append(dict(row, id="warm"))
        lat = []
        for i in range(appends):
            r = dict(row, id=f"a{i}")
            t0 = time.perf_counter()
            h.append(r)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        big = History(Path(tmp) / "big.sqlite")
        conn = big._connect()  # bulk-fill the store the way 100,000 appends would leave it
        names = list(row) + ["session_id"]
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO history ({','.join(names)}) VALUES ({','.join('?' * len(names))})",
                         (tuple(dict(row, id=f"b{i}", session_id="s").values()) for i in range(rows)))
        conn.execute("COMMIT")
        big.close()
        import pandas  # noqa: F401  (imported once, as in a session that already used it)
        reader = History(Path(tmp) / "big.sqlite")
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            df = reader.to_dataframe(all_sessions=True)
            times.append(time.perf_counter() - t0)
            assert len(df) == rows
        reader.close()
        h.close()
    return {"median_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1], "max_ms": lat[-1],
            "frame_s": min(times), "frame_median_s": statistics.median(times), "appends": appends, "rows": rows}


def report() -> str:
    m = measure()
    return (f"History: append to SQLite (WAL, one commit per call), {m['appends']:,} appends: median "
            f"{m['median_ms']:.3f} ms, p99 {m['p99_ms']:.3f} ms, max {m['max_ms']:.1f} ms\n"
            f"  {m['rows']:,} stored rows -> DataFrame: best {m['frame_s']:.2f} s, median {m['frame_median_s']:.2f} s")
