"""cm.batch against what users write today, on the fake server paced like Cerebras (own process).

1. rows/s: 2,000 rows at concurrency 64 (TTFT 0.1 s, 2,000 tok/s, 50 tokens an answer) for cm.batch
   (history, progress and the DataFrame included) vs a hand-written `AsyncOpenAI` + `asyncio.Semaphore(64)`
   loop and the same loop on the official `AsyncCerebras`; and wall time against the ideal
   (rows x one request's latency / concurrency).
2. the rate limit: the server enforces requests/minute (then tokens/minute); achieved rate past the
   bucket's initial burst vs the limit, failed rows, 429s.
3. client CPU per row and resident memory over 100,000 rows from a generator (to a Parquet file).
4. kill -9 at ~50%, then the same batch again (bench/batch_resume.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

KEY = "bench-key"
MODEL = "llama-3.3-70b"
TEMPLATE = "Classify the sentiment of this review as pos/neg/neu: {review}"


@contextlib.contextmanager
def server(*args: str):
    """The fake server in its own process (so its work never shares our GIL); yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "cerebras_magic.testing", "--key", KEY, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def reviews(n: int) -> list:
    return [f"review {i}: the {('food', 'service', 'room', 'view')[i % 4]} was {('great', 'awful', 'fine')[i % 3]}"
            for i in range(n)]


def session(url: str, path=None):
    from cerebras_magic.core import Session
    return Session(history_path=path or os.path.join(tempfile.mkdtemp(prefix="cm-bench-"), "h.sqlite"),
                   base_url=url, api_key=KEY, model=MODEL)


def ours(url: str, texts: list, conc: int, tokens: int, **kw):
    """cm.batch with everything on: history (SQLite file), progress (the terminal view, its summary line
    swallowed so the report stays readable) and the DataFrame."""
    import io

    import pandas as pd

    from cerebras_magic.core._batch import batch
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        out = batch(pd.DataFrame({"review": texts}), TEMPLATE, session=session(url), concurrency=conc,
                    max_tokens=tokens, min_tokens=tokens, **kw)
    return int((out.status == "ok").sum())


def openai_loop(url: str, texts: list, conc: int, tokens: int) -> int:
    """What users write today."""
    from openai import AsyncOpenAI

    async def go():
        client, sem = AsyncOpenAI(api_key=KEY, base_url=url + "/v1", max_retries=2), asyncio.Semaphore(conc)

        async def one(text):
            async with sem:
                r = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": TEMPLATE.format(review=text)}],
                    max_completion_tokens=tokens, extra_body={"min_completion_tokens": tokens})
                return r.choices[0].message.content
        out = await asyncio.gather(*(one(t) for t in texts))
        await client.close()
        return len(out)
    return asyncio.run(go())


def sdk_loop(url: str, texts: list, conc: int, tokens: int) -> int:
    from cerebras.cloud.sdk import AsyncCerebras

    async def go():
        client = AsyncCerebras(api_key=KEY, base_url=url, warm_tcp_connection=False, max_retries=2)
        sem = asyncio.Semaphore(conc)

        async def one(text):
            async with sem:
                r = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": TEMPLATE.format(review=text)}],
                    max_completion_tokens=tokens, min_completion_tokens=tokens)
                return r.choices[0].message.content
        out = await asyncio.gather(*(one(t) for t in texts))
        await client.close()
        return len(out)
    return asyncio.run(go())


def latency(url: str, tokens: int, n: int = 10) -> float:
    """One request's latency on this server (median of n, sequential): the ideal's unit."""
    from cerebras_magic import Client
    times = []
    with Client(api_key=KEY, base_url=url) as c:
        for i in range(n):
            t = time.perf_counter()
            c.chat(TEMPLATE.format(review=i), model=MODEL, max_completion_tokens=tokens, min_completion_tokens=tokens)
            times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def throughput(rows: int = 2000, conc: int = 64, tokens: int = 50, repeats: int = 2) -> str:
    contenders = {"hand-written AsyncOpenAI + Semaphore": openai_loop, "AsyncCerebras (official SDK) loop": sdk_loop,
                  "cm.batch (history, progress, DataFrame)": lambda *a: ours(*a, progress=True),
                  "cm.batch, stream=True (TTFT per row)": lambda *a: ours(*a, stream=True, progress=False)}
    texts = reviews(rows)
    with server("--tps", "2000", "--ttft", "0.1") as url:
        one = latency(url, tokens)
        for fn in contenders.values():  # warm-up: imports, connections
            fn(url, texts[:64], conc, tokens)
        walls = {k: [] for k in contenders}
        cpus = {k: [] for k in contenders}
        for _ in range(repeats):  # interleaved, so drift hits every contender alike
            for name, fn in contenders.items():
                c0, t0 = time.process_time(), time.perf_counter()
                got = fn(url, texts, conc, tokens)
                walls[name].append(time.perf_counter() - t0)
                cpus[name].append(time.process_time() - c0)
                assert got == rows, (name, got)
    ideal = rows * one / conc
    base = min(walls["hand-written AsyncOpenAI + Semaphore"])
    sdk = min(walls["AsyncCerebras (official SDK) loop"])
    lines = [f"Batch throughput: {rows:,} rows at concurrency {conc}, {tokens} tokens an answer, fake server paced at "
             f"2,000 tok/s, TTFT 0.1 s (own process); best of {repeats}",
             f"one request's latency {one * 1000:.0f} ms -> ideal wall time {ideal:.2f} s ({rows / ideal:,.0f} rows/s)",
             f"{'contender':42} {'wall s':>7} {'rows/s':>7} {'x ideal':>8} {'x openai':>9} {'x SDK':>6} {'CPU ms/row':>11}"]
    for name in contenders:
        wall = min(walls[name])
        lines.append(f"{name:42} {wall:7.2f} {rows / wall:7,.0f} {wall / ideal:8.2f} {base / wall:9.2f} "
                     f"{sdk / wall:6.2f} {min(cpus[name]) / rows * 1000:11.2f}")
    return "\n".join(lines)


def rate_limited(rpm: int = 1200, rows: int = 1600, tpm: int = 30_000, rows_tpm: int = 1100) -> str:
    """Requests bound, then tokens bound. A minute bucket starts full, so its `capacity` requests may go at
    once, and by time t at most capacity + rate x t: achieved = (requests - capacity) / (rate x last send)."""
    from cerebras_magic.core._batch import batch
    lines = ["Rate-limited batch: the fake server enforces the limit with real 429s (own process, no pacing)",
             f"{'limit':34} {'rows':>6} {'failed':>7} {'429s':>6} {'429 %':>6} {'burst':>6} {'after req/s':>12} "
             f"{'limit req/s':>12} {'achieved':>9}"]
    for what, args, n in ((f"--rpm {rpm} ({rpm / 60:.0f} req/s)", ("--rpm", str(rpm)), rows),
                          (f"--tpm {tpm:,} (tokens bound)", ("--tpm", str(tpm)), rows_tpm)):
        with server("--tps", "0", "--ttft", "0", *args) as url:
            s = session(url)
            out = batch(reviews(n), "Classify: {}", session=s, concurrency=64, max_tokens=20, progress=False)
            frame = s.history.to_dataframe()
            times = frame["started_at"].sort_values()
            sent = (times - times.iloc[0]).dt.total_seconds().to_numpy()  # when each call left
            charge = (frame.prompt_tokens.astype(float) + 20).mean()
            per_s = rpm / 60 if args[0] == "--rpm" else tpm / 60 / charge
            burst = int(rpm if args[0] == "--rpm" else tpm / charge)  # the full bucket, in requests
            # by time t the server allows at most burst + rate x t requests: the share of that refill used
            steady = (len(sent) - burst) / sent[-1]
            failed = int((out.status != "ok").sum())
            r429 = out.attrs["batch"]["rate_limited"]
            lines.append(f"{what:34} {n:6,} {failed:7} {r429:6} {100 * r429 / (n + r429):6.2f} {burst:6,} "
                         f"{steady:12.2f} {per_s:12.2f} {steady / per_s:9.1%}")
    return "\n".join(lines)


def cpu_memory(rows: int = 100_000, conc: int = 64) -> str:
    """A generator of `rows` texts to a Parquet file (rows not kept in memory), firehose server."""
    from cerebras_magic.core._batch import batch
    marks, done = [], threading.Event()

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def sample(run):
        while not done.wait(0.5):
            p = run.progress
            marks.append((p.done, rss_mb()))

    out_dir = tempfile.mkdtemp(prefix="cm-bench-")
    gen = (f"review {i}" for i in range(rows))
    with server("--firehose", "--tps", "0", "--ttft", "0") as url:
        s = session(url)
        before = rss_mb()
        c0, t0 = time.process_time(), time.perf_counter()
        run = batch(gen, "Classify: {}", session=s, concurrency=conc, max_tokens=10, progress=False,
                    to=os.path.join(out_dir, "out.parquet"), background=True)
        sampler = threading.Thread(target=sample, args=(run,), daemon=True)
        sampler.start()
        run.result()
        done.set()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        p = run.progress
    import pyarrow.parquet as pq
    in_file = pq.read_metadata(os.path.join(out_dir, "out.parquet")).num_rows
    at = {f: next((m for d, m in marks if d >= f * rows), marks[-1][1] if marks else before) for f in (0.1, 0.5, 1.0)}
    peak = max([m for _, m in marks] or [before])
    return "\n".join([
        f"Client CPU and memory: {rows:,} rows from a generator, concurrency {conc}, to Parquet, firehose server",
        f"  {p.ok:,} ok, {p.error:,} errors, {in_file:,} rows in the file; wall {wall:.1f} s ({rows / wall:,.0f} rows/s); "
        f"client CPU {cpu / rows * 1000:.2f} ms/row",
        f"  RSS before {before:.0f} MB; at 10% {at[0.1]:.0f} MB, 50% {at[0.5]:.0f} MB, 100% {at[1.0]:.0f} MB; peak "
        f"{peak:.0f} MB; growth 10%->100%: {(at[1.0] - at[0.1]) * 1024 / (0.9 * rows):.2f} KB/row"])


def report(which=("throughput", "limits", "memory", "resume")) -> str:
    parts = []
    if "throughput" in which:
        parts.append(throughput())
    if "limits" in which:
        parts.append(rate_limited())
    if "memory" in which:
        parts.append(cpu_memory())
    if "resume" in which:
        from .batch_resume import report as resume
        parts.append(resume())
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(report(sys.argv[1:] or ("throughput", "limits", "memory", "resume")))
