"""`python -m bench [stream magic paced logprobs history memory local frontend batch] [--n N] [--repeats R]`: print the
tables."""
import argparse
import platform
import os

from . import batch, history, logprobs, magic, memory, paced, stream


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("which", nargs="*", choices=["stream", "magic", "paced", "logprobs", "history", "memory", "local", "frontend", "batch",
                                                     []],
                    help="which tables (default: all)")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    a.which = a.which or ["stream", "magic", "paced", "logprobs", "history", "memory", "local", "frontend", "batch"]
    print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}")
    if "stream" in a.which:
        print(stream.report(a.n, a.repeats))
    if "magic" in a.which:
        print(magic.report(a.n, a.repeats))
    if "paced" in a.which:
        print(paced.report())
    if "logprobs" in a.which:
        print(logprobs.report(10000, a.repeats))
    if "history" in a.which:
        print(history.report())
    if "memory" in a.which:
        print(memory.report())
    if "local" in a.which:
        from . import local
        print(local.report())
    if "batch" in a.which:
        print(batch.report())
    if "frontend" in a.which:
        from . import frontend
        print(frontend.report(3))


if __name__ == "__main__":
    main()
