"""Local backend speed: model load, tokens/s with and without top-5 logprobs through the project's client,
llama-cpp-python's own `create_completion(logprobs=5)` on the same prompt (the slow path we avoid), and
JSON-schema constrained decoding against free text with the same sampling settings.

All contenders run interleaved in one process, so a busy machine slows them alike; medians are shown.
`python -m bench.local [max_tokens] [repeats]`
"""
from __future__ import annotations

import statistics
import sys
import time

PROMPT = "Write a long story about a dragon who learns to cook."
STORY = {"type": "json_schema", "json_schema": {"name": "Story", "strict": True, "schema": {
    "type": "object", "properties": {"title": {"type": "string"}, "paragraphs": {"type": "array", "items": {
        "type": "string"}}}, "required": ["title", "paragraphs"], "additionalProperties": False}}}


def _ours(client, n: int, top: int) -> tuple:
    """Tokens/s of one streamed chat through Client + LocalTransport (wall clock of the whole call)."""
    extra = {"logprobs": True, "top_logprobs": top} if top else {}
    started = time.perf_counter()
    last = None
    for last in client.chat(PROMPT, stream=True, temperature=0, max_completion_tokens=n, min_completion_tokens=n,
                            **extra):
        pass
    elapsed = time.perf_counter() - started
    return last.usage.completion_tokens / elapsed, last.usage.completion_tokens


def _decode_rate(client, n: int, **params) -> tuple:
    """Tokens/s of generation alone (time_info.completion_time): a grammar can end the answer early, so
    wall clock would weigh the prompt differently. The greedy constrained run checks the chosen token
    alone; with top_p < 1 the grammar masks the whole vocabulary every step."""
    r = client.chat(PROMPT, max_completion_tokens=n, **params)
    return r.usage.completion_tokens / r.time_info.completion_time, r.usage.completion_tokens


def _theirs(llm, prompt: str, n: int, top) -> tuple:
    """Tokens/s of llama-cpp-python's create_completion on the same formatted prompt."""
    started = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=n, temperature=0, logprobs=top)
    elapsed = time.perf_counter() - started
    return out["usage"]["completion_tokens"] / elapsed, out["usage"]["completion_tokens"]


def measure(max_tokens: int = 128, repeats: int = 3) -> dict:
    import httpx
    import llama_cpp

    import cerebras_magic as cm
    from cerebras_magic import local

    transport = local.LocalTransport()
    client = cm.Client(api_key=None, base_url="http://local", http_client=httpx.Client(transport=transport))
    model = transport.model()
    with local.no_extra_buffers():  # create_completion(logprobs=...) needs logits for every position
        theirs = llama_cpp.Llama(str(local.model_path()), n_ctx=transport.n_ctx, n_threads=transport.n_threads,
                                 n_threads_batch=transport.n_threads, logits_all=True, verbose=False)
    prompt = model.chat_prompt([{"role": "user", "content": PROMPT}])
    runs = {"ours, no logprobs": lambda: _ours(client, max_tokens, 0),
            "ours, top-5 logprobs": lambda: _ours(client, max_tokens, 5),
            "llama-cpp-python create_completion, no logprobs": lambda: _theirs(theirs, prompt, max_tokens, None),
            "llama-cpp-python create_completion, logprobs=5": lambda: _theirs(theirs, prompt, max_tokens, 5)}
    for label, params in (("greedy", {"temperature": 0}), ("top_p=0.9", {"temperature": 0.8, "top_p": 0.9, "seed": 1})):
        for kind, fmt in (("free text", {}), ("json_schema", {"response_format": STORY})):
            runs[f"decode only, {kind}, {label}"] = lambda p={**params, **fmt}: _decode_rate(client, max_tokens, **p)
    for run in runs.values():  # warm-up: caches, first-call allocations
        run()
    rates, tokens = {name: [] for name in runs}, {}
    for _ in range(repeats):
        for name, run in runs.items():
            rate, tokens[name] = run()
            rates[name].append(rate)
    client.close()
    return {"load_seconds": transport.load_seconds, "n_threads": transport.n_threads, "tokens": tokens,
            "rates": {name: statistics.median(r) for name, r in rates.items()},
            "spread": {name: (min(r), max(r)) for name, r in rates.items()}}


def report(max_tokens: int = 128, repeats: int = 3) -> str:
    m = measure(max_tokens, repeats)
    r = m["rates"]
    ratio = r["ours, top-5 logprobs"] / r["ours, no logprobs"]
    lines = [f"Local SmolLM2-135M-Instruct (llama.cpp, {m['n_threads']} threads), {max_tokens} tokens, "
             f"median of {repeats} interleaved runs",
             f"  model load: {m['load_seconds']:.2f} s",
             f"  {'contender':50} {'tokens/s':>9} {'min-max':>13} {'tokens':>7}"]
    for name, rate in r.items():
        low, high = m["spread"][name]
        lines.append(f"  {name:50} {rate:9.1f} {f'{low:.0f}-{high:.0f}':>13} {m['tokens'][name]:7d}")
    lines.append(f"  top-5 logprobs / no logprobs (ours): {ratio:.2f}x (target >= 0.70x); "
                 f"ours with logprobs vs create_completion(logprobs=5): "
                 f"{r['ours, top-5 logprobs'] / r['llama-cpp-python create_completion, logprobs=5']:.1f}x")
    lines.append("  json_schema / free text (decode only): " + ", ".join(
        f"{label} {r[f'decode only, json_schema, {label}'] / r[f'decode only, free text, {label}']:.2f}x"
        for label in ("greedy", "top_p=0.9")))
    return "\n".join(lines)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(report(*args))
