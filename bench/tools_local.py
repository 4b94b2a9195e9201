"""What the embedded SmolLM2-135M manages with tools: `python -m bench.tools_local [--seeds N]`.

Seven questions (the weather in five cities, two money conversions), each run through the whole tool loop
(`cm.chat(..., tools=[...])`) with N seeds at temperature 0.7, then once at temperature 0. Counted: a call
was made (the local backend's rule picks the tool), its arguments parse and fit the schema (the grammar's
job), they hold the values the question gives, and the final answer states the tool's number.
"""
from __future__ import annotations

import argparse
import collections
import os
from typing import Literal

TEMPERATURES = {"Paris": 21, "Rome": 25, "Tokyo": 18, "Oslo": 4, "Cairo": 33}


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
    """Current weather for a city."""
    return {"city": city, "temp_c": TEMPERATURES.get(city, 15)}


def convert(amount: float, from_currency: str, to_currency: str) -> float:
    """Convert an amount of money from one currency to another."""
    return round(amount * 0.9, 2)


CASES = [(f"What is the weather in {c}?", [get_weather], {"city": c}, str(t)) for c, t in TEMPERATURES.items()] + [
    ("Convert 100 USD to EUR.", [convert], {"amount": 100, "from_currency": "USD", "to_currency": "EUR"}, "90"),
    ("Convert 250 dollars to yen.", [convert, get_weather], {"amount": 250}, "225")]


def _score(r, want: dict, answer: str) -> collections.Counter:
    step = r.tool_calls[0] if r.tool_calls else None
    return collections.Counter(called=step is not None, valid=step is not None and step.status == "ok",
                               right=step is not None and all(step.arguments.get(k) == v for k, v in want.items()),
                               answered=answer in r.text)


def report(seeds: int = 10) -> str:
    for name in ("CEREBRAS_API_KEY", "CEREBRAS_BASE_URL"):
        os.environ.pop(name, None)
    import cerebras_magic as cm
    from cerebras_magic.core import Session, set_default_session
    set_default_session(Session(history_path=None, backend="local"))
    sampled, greedy = collections.Counter(), collections.Counter()
    lines = ["| question | calls | fit the schema | right values | answer states the result |", "|---|---|---|---|---|"]
    for prompt, tools, want, answer in CASES:
        got = collections.Counter()
        for seed in range(seeds):
            got += _score(cm.chat(prompt, tools=tools, seed=seed, temperature=0.7, max_tokens=60), want, answer)
        sampled += got
        greedy += _score(cm.chat(prompt, tools=tools, temperature=0, max_tokens=60), want, answer)
        lines.append(f"| {prompt} | {got['called']}/{seeds} | {got['valid']}/{seeds} | {got['right']}/{seeds} | "
                     f"{got['answered']}/{seeds} |")
    n = seeds * len(CASES)
    lines.append(f"| all, temperature 0.7 | {sampled['called']}/{n} | {sampled['valid']}/{n} | {sampled['right']}/{n} "
                 f"| {sampled['answered']}/{n} |")
    k = len(CASES)
    lines.append(f"| all, temperature 0 | {greedy['called']}/{k} | {greedy['valid']}/{k} | {greedy['right']}/{k} | "
                 f"{greedy['answered']}/{k} |")
    return "\n".join(["## The local model with tools (SmolLM2-135M, llama.cpp)", "", *lines])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.tools_local")
    ap.add_argument("--seeds", type=int, default=10)
    print(report(ap.parse_args().seeds))
