"""CPU cost of receiving a *paced* stream at Cerebras speed (3,000 tokens/s), per client.

The firehose benchmark (bench/stream.py) shows how fast each client can parse; this one shows what a real
stream costs: the notebook must never be the bottleneck and must leave the CPU free. The fake server runs
in its own process, so only the client's CPU (`time.process_time()` of this process) is counted.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

from .stream import CONTENDERS as STREAMERS

CONTENDERS = {k: v for k, v in STREAMERS.items() if not k.startswith("reference")}

TPS = 3000.0


class PacedServer:
    """The fake server in its own process, pacing tokens like the real API (no firehose)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "cerebras_magic.testing", "--key", "bench-key",
                                      "--tps", str(TPS), "--ttft", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def _magic(base_url: str):
    """The full %%cerebras cell path (render + history) in an InteractiveShell with display captured."""
    from .magic import _shell
    sh = _shell(base_url)

    def run(base: str, key: str, n: int) -> int:
        sh.display_pub.messages.clear()
        res = sh.run_cell(f"%%cerebras --min-tokens {n} --max-tokens {n}\nfirehose")
        assert res.success, res.error_in_exec
        return res.result.completion_tokens
    return run


def measure(n: int = 6000, repeats: int = 3) -> list:
    with PacedServer() as srv:
        fns = {**CONTENDERS, "%%cerebras cell (render + history)": _magic(srv.base_url)}
        for fn in fns.values():  # warm-up: imports, first connection, lazy init are not what we measure
            fn(srv.base_url, "bench-key", 50)
        walls, cpus = {k: [] for k in fns}, {k: [] for k in fns}
        for _ in range(repeats):  # interleaved, so drift hits every contender alike
            for name, fn in fns.items():
                c0, t0 = time.process_time(), time.perf_counter()
                got = fn(srv.base_url, "bench-key", n)
                got = got[0] if isinstance(got, tuple) else got  # the stream contenders also say when headers came
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                assert got >= n, (name, got)
                assert 0.9 * n / TPS < wall < 1.5 * n / TPS + 0.2, (name, wall)  # the pacing works
                walls[name].append(wall)
                cpus[name].append(cpu)
        rows = []
        for name in fns:
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            rows.append((name, wall, n / wall, cpu / wall * 100, cpu / n * 1e6))
        return rows


def front_end_bytes(seconds=(1, 3, 9)) -> list:
    """Per stream length: display messages and bytes of a %%cerebras cell at the paced rate.

    The live updates (all messages but the final render) must grow with time, not with time x length."""
    from .magic import _shell
    rows = []
    with PacedServer() as srv:
        sh = _shell(srv.base_url)
        for s in seconds:
            n = int(s * TPS)
            sh.display_pub.messages.clear()
            t0 = time.perf_counter()
            res = sh.run_cell(f"%%cerebras --min-tokens {n} --max-tokens {n}\nfirehose")
            wall = time.perf_counter() - t0
            assert res.success and res.result.completion_tokens == n, res.error_in_exec
            sizes = [size for _, size, _ in sh.display_pub.messages]
            rows.append((n, wall, len(sizes), sum(sizes[:-1]), sizes[-1]))
    return rows


def report(n: int = 6000, repeats: int = 3) -> str:
    lines = [f"Client CPU on a paced stream: {n:,} tokens at {TPS:,.0f} tok/s (~{n / TPS:.1f} s), fake server in "
             f"its own process, median of {repeats}",
             f"{'contender':40} {'wall s':>7} {'tok/s':>7} {'CPU % 1 core':>13} {'CPU us/token':>13}"]
    for name, wall, rate, pct, us in measure(n, repeats):
        lines.append(f"{name:40} {wall:7.3f} {rate:7,.0f} {pct:13.1f} {us:13.1f}")
    lines.append(f"%%cerebras display traffic at {TPS:,.0f} tok/s: live view (every message but the final render) "
                 "and final render")
    lines.append(f"{'tokens':>8} {'wall s':>7} {'messages':>9} {'live bytes':>11} {'live KB/s':>10} {'final bytes':>12}")
    for tokens, wall, count, live, final in front_end_bytes():
        lines.append(f"{tokens:8,} {wall:7.2f} {count:9} {live:11,} {live / wall / 1024:10.1f} {final:12,}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
