"""Stream parse throughput on the fake server's firehose: chunks/s of each client, same run.

The floor is an untyped loop (httpx `iter_lines` + `json.loads`); ours build typed pydantic chunks.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx

BODY = {"model": "llama3.1-8b", "messages": [{"role": "user", "content": "firehose"}], "stream": True}


def _body(n: int) -> dict:
    return {**BODY, "max_completion_tokens": n, "min_completion_tokens": n}


def floor(base: str, key: str, n: int) -> int:
    count = 0
    with httpx.Client(timeout=60) as c:
        with c.stream("POST", base + "/v1/chat/completions", json=_body(n),
                      headers={"Authorization": f"Bearer {key}"}) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    count += 1
    return count


def ours_sync(base: str, key: str, n: int) -> int:
    from cerebras_magic import Client
    with Client(api_key=key, base_url=base) as c:
        return sum(1 for _ in c.chat("firehose", stream=True, max_completion_tokens=n, min_completion_tokens=n))


def ours_async(base: str, key: str, n: int) -> int:
    from cerebras_magic import AsyncClient

    async def go():
        async with AsyncClient(api_key=key, base_url=base) as c:
            s = await c.chat("firehose", stream=True, max_completion_tokens=n, min_completion_tokens=n)
            return sum([1 async for _ in s])
    return asyncio.run(go())


def cerebras_sdk(base: str, key: str, n: int) -> int:
    from cerebras.cloud.sdk import Cerebras
    c = Cerebras(api_key=key, base_url=base, warm_tcp_connection=False)
    s = c.chat.completions.create(model="llama3.1-8b", messages=BODY["messages"], stream=True,
                                  max_completion_tokens=n, min_completion_tokens=n)
    return sum(1 for _ in s)


def openai_sdk(base: str, key: str, n: int) -> int:
    from openai import OpenAI
    c = OpenAI(api_key=key, base_url=base + "/v1")
    s = c.chat.completions.create(model="llama3.1-8b", messages=BODY["messages"], stream=True,
                                  max_completion_tokens=n, extra_body={"min_completion_tokens": n})
    return sum(1 for _ in s)


CONTENDERS = {"floor: httpx iter_lines + json.loads": floor, "cerebras_magic Client (typed)": ours_sync,
              "cerebras_magic AsyncClient (typed)": ours_async, "cerebras-cloud-sdk": cerebras_sdk,
              "openai": openai_sdk}


class ServerProcess:
    """The fake server in its own process, so its work never shares the benchmark's GIL."""

    def __enter__(self):
        import subprocess
        import sys
        self.proc = subprocess.Popen([sys.executable, "-m", "cerebras_magic.testing", "--firehose", "--key", "bench-key",
                                      "--tps", "0", "--ttft", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def measure(n: int = 20000, repeats: int = 5, only=None) -> list:
    rows = []
    with ServerProcess() as srv:
        names = [k for k in CONTENDERS if not only or any(o in k for o in only)]
        times = {k: [] for k in names}
        for _ in range(repeats):  # interleaved, so drift hits every contender alike
            for name in names:
                t0 = time.perf_counter()
                got = CONTENDERS[name](srv.base_url, "bench-key", n)
                times[name].append(time.perf_counter() - t0)
                assert got >= n, (name, got)
        base = n / min(times[names[0]])
        for name in names:
            rate = n / min(times[name])
            rows.append((name, rate, rate / base, n / statistics.median(times[name])))
    return rows


def report(n: int = 20000, repeats: int = 5, only=None) -> str:
    lines = [f"Stream parse throughput, {n:,}-chunk chat stream, fake server firehose (own process), best of {repeats}",
             f"{'contender':40} {'chunks/s':>12} {'x floor':>8} {'median chunks/s':>16}"]
    for name, rate, ratio, med in measure(n, repeats, only):
        lines.append(f"{name:40} {rate:12,.0f} {ratio:8.2f} {med:16,.0f}")
    return "\n".join(lines)
