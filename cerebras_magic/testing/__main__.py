"""`python -m cerebras_magic.testing`: serve the fake Cerebras API until Ctrl-C or SIGTERM.

The first stdout line is the base URL, so scripts can read it, e.g. `URL=$(... | head -1)`. stderr then
carries the whole setup for another shell, two lines to paste: `export CEREBRAS_BASE_URL=...` and
`export CEREBRAS_API_KEY=...` (the --key given, or a placeholder when any key is accepted).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import FakeServer

ANY_KEY = "fake-key"  # printed when the server accepts any bearer token


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cerebras_magic.testing", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port (default: an ephemeral one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default=None, help="expected API key (default: accept any bearer token)")
    parser.add_argument("--tps", type=float, default=2000.0, help="tokens per second; 0 = no pacing")
    parser.add_argument("--ttft", type=float, default=0.1, help="seconds before the first token")
    parser.add_argument("--done", action="store_true", help="end streams with data: [DONE]")
    parser.add_argument("--firehose", action="store_true", help="benchmark mode: no sleeps, 64 KiB writes")
    parser.add_argument("--rpd", type=int, default=1_000_000, help="requests per day limit")
    parser.add_argument("--tpm", type=int, default=100_000_000, help="tokens per minute limit (total tokens)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute limit (default: none)")
    parser.add_argument("--uncached-tpm", type=int, default=None,
                        help="uncached tokens per minute limit (default: the --tpm value)")
    args = parser.parse_args(argv)
    server = FakeServer(api_key=args.key, tokens_per_second=args.tps or None, ttft=args.ttft, done=args.done,
                        firehose=args.firehose, port=args.port, host=args.host, requests_per_day=args.rpd,
                        tokens_per_minute=args.tpm, requests_per_minute=args.rpm,
                        uncached_tokens_per_minute=args.uncached_tpm).start()
    print(server.base_url, flush=True)
    print(f"export CEREBRAS_BASE_URL={server.base_url}\nexport CEREBRAS_API_KEY={args.key or ANY_KEY}\n"
          f"# the fake Cerebras API ({'this key only' if args.key else 'any key works'}); Ctrl-C to stop",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
