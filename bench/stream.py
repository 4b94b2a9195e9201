"""Stream parse throughput on the fake server's firehose: chunks/s of each client, same run.

The floor is an untyped loop (httpx `iter_lines` + `json.loads`); ours build typed pydantic chunks.
Each contender returns its chunk count and the moment its response headers arrived, so parse time
(headers -> last chunk) is measured apart from the request, which includes the fake server building
all 20,000 events before it answers (the same ~50 ms for everyone).
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


_TLS = []


def _tls():
    """Every contender's httpx client shares one TLS context, as ours do: building one per client
    (~20 ms, the CA bundle) would otherwise land in the CPU figures of bench/paced.py."""
    if not _TLS:
        _TLS.append(httpx.create_ssl_context())
    return _TLS[0]


def _http(**kw) -> httpx.Client:
    return httpx.Client(timeout=60, verify=_tls(), **kw)


def _hooked():
    """An httpx client that notes when response headers arrive (for the SDKs, which hide the response)."""
    seen = []
    return _http(event_hooks={"response": [lambda r: seen.append(time.perf_counter())]}), seen


def bytes_only(base: str, key: str, n: int):
    with _http() as c:
        with c.stream("POST", base + "/v1/chat/completions", json=_body(n),
                      headers={"Authorization": f"Bearer {key}"}) as r:
            t = time.perf_counter()
            size = sum(len(b) for b in r.iter_bytes())
    assert size > 200 * n
    return n, t


def floor(base: str, key: str, n: int):
    count = 0
    with _http() as c:
        with c.stream("POST", base + "/v1/chat/completions", json=_body(n),
                      headers={"Authorization": f"Bearer {key}"}) as r:
            t = time.perf_counter()
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    count += 1
    return count, t


def floor_async(base: str, key: str, n: int):
    """The floor on httpx's async client: what any asyncio client pays before parsing anything."""
    async def go():
        count = 0
        async with httpx.AsyncClient(timeout=60, verify=_tls()) as c:
            async with c.stream("POST", base + "/v1/chat/completions", json=_body(n),
                                headers={"Authorization": f"Bearer {key}"}) as r:
                t = time.perf_counter()
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
                        count += 1
        return count, t
    return asyncio.run(go())


def ours_sync(base: str, key: str, n: int):
    from cerebras_magic import Client
    with Client(api_key=key, base_url=base) as c:
        s = c.chat("firehose", stream=True, max_completion_tokens=n, min_completion_tokens=n)
        return sum(1 for _ in s), s.headers_at


def ours_async(base: str, key: str, n: int):
    from cerebras_magic import AsyncClient

    async def go():
        async with AsyncClient(api_key=key, base_url=base) as c:
            s = await c.chat("firehose", stream=True, max_completion_tokens=n, min_completion_tokens=n)
            return sum([1 async for _ in s]), s.headers_at
    return asyncio.run(go())


def cerebras_sdk(base: str, key: str, n: int):
    from cerebras.cloud.sdk import Cerebras
    http, seen = _hooked()
    c = Cerebras(api_key=key, base_url=base, warm_tcp_connection=False, http_client=http)
    s = c.chat.completions.create(model="llama3.1-8b", messages=BODY["messages"], stream=True,
                                  max_completion_tokens=n, min_completion_tokens=n)
    return sum(1 for _ in s), seen[-1]


def openai_sdk(base: str, key: str, n: int):
    from openai import OpenAI
    http, seen = _hooked()
    c = OpenAI(api_key=key, base_url=base + "/v1", http_client=http)
    s = c.chat.completions.create(model="llama3.1-8b", messages=BODY["messages"], stream=True,
                                  max_completion_tokens=n, extra_body={"min_completion_tokens": n})
    return sum(1 for _ in s), seen[-1]


CONTENDERS = {"floor: httpx iter_lines + json.loads": floor, "cerebras_magic Client (typed)": ours_sync,
              "async floor: httpx aiter_lines + loads": floor_async,
              "cerebras_magic AsyncClient (typed)": ours_async, "cerebras-cloud-sdk": cerebras_sdk,
              "openai": openai_sdk, "reference: httpx iter_bytes, no parsing": bytes_only}
SDK = "cerebras-cloud-sdk"


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
    """Per contender: best and median parse rate (headers -> last chunk), best end-to-end rate."""
    with ServerProcess() as srv:
        names = [k for k in CONTENDERS if not only or k == next(iter(CONTENDERS)) or any(o in k for o in only)]
        parse, total = {k: [] for k in names}, {k: [] for k in names}
        for _ in range(repeats):  # interleaved, so drift hits every contender alike
            for name in names:
                t0 = time.perf_counter()
                got, t_headers = CONTENDERS[name](srv.base_url, "bench-key", n)
                t1 = time.perf_counter()
                assert got >= n, (name, got)
                parse[name].append(t1 - t_headers)
                total[name].append(t1 - t0)
    return [(name, n / min(parse[name]), n / statistics.median(parse[name]), n / min(total[name]))
            for name in names]


def report(n: int = 20000, repeats: int = 5, only=None) -> str:
    rows = measure(n, repeats, only)
    floor_rate, floor_total = rows[0][1], rows[0][3]
    sdk = next((r[1] for r in rows if r[0] == SDK), None)
    lines = [f"Stream parse throughput, {n:,}-chunk chat stream, fake server firehose (own process), best of {repeats}",
             "parse = response headers -> last chunk; end to end adds the request, in which the fake server builds",
             "every event before it answers (the same for every contender)",
             f"{'contender':42} {'parse chunks/s':>14} {'x floor':>8} {'x SDK':>6} {'median':>9} "
             f"{'end to end':>11} {'x floor':>8}"]
    for name, rate, med, whole in rows:
        vs_sdk = f"{rate / sdk:6.2f}" if sdk else f"{'-':>6}"
        lines.append(f"{name:42} {rate:14,.0f} {rate / floor_rate:8.2f} {vs_sdk} {med:9,.0f} "
                     f"{whole:11,.0f} {whole / floor_total:8.2f}")
    return "\n".join(lines)
