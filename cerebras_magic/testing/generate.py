"""A deterministic stand-in for a language model.

Text is a pure function of the request (hashed with hashlib, never `hash()`), so tests can assert on it
and two runs agree. Tokens are raw `bytes`: most are whole words, but every answer of 10+ tokens holds one
multi-byte character split across two tokens, the case that breaks naive clients.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re

WORDS = (
    "the model answer question data token stream fast light wafer chip memory speed cloud server "
    "request response simple clear small large first last good new old great high low long short "
    "time way world year day number part system program problem fact idea result point value "
    "is was are be can will would should could may might must has have had does did makes takes "
    "gives shows runs reads writes builds finds keeps uses learns helps moves starts ends works "
    "and or but so because while when where which that this these those it they we you he she "
    "in on at by for with from about into over under after before through between without "
    "very quite rather really also only even still just often always never sometimes usually"
).split()
PUNCT = (b",", b".", b";", b":")
# Words whose multi-byte character is split across two tokens (" café" = " caf" + b"\xc3" + b"\xa9").
SPLIT_WORDS = (
    (b" caf", b"\xc3", b"\xa9"),
    (b" na", b"\xc3", b"\xafve"),
    (b" \xf0\x9f", b"\x9a\x80"),
    (b" \xc3", b"\xbcber"),
)
VOCAB = ([(" " + w).encode() for w in WORDS] + [(" " + w.capitalize()).encode() for w in WORDS]
         + [w.capitalize().encode() for w in WORDS] + list(PUNCT) + [b"\n", b"\n\n"]
         + [piece for word in SPLIT_WORDS for piece in word])
TOKEN_IDS = {tok: 1000 + i for i, tok in enumerate(dict.fromkeys(VOCAB))}
ALTERNATIVES = [(" " + w).encode() for w in WORDS] + [b",", b"."]
PROMPT_PIECES = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def rng_for(*parts) -> random.Random:
    """A `random.Random` seeded by a stable hash of any JSON-able parts."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()
    return random.Random(int.from_bytes(hashlib.sha256(blob).digest()[:8], "big"))


def token_id(tok: bytes) -> int:
    """Vocabulary id, or a stable hashed id for prompt pieces outside the vocabulary."""
    found = TOKEN_IDS.get(tok)
    if found is not None:
        return found
    return 20000 + int.from_bytes(hashlib.sha1(tok).digest()[:4], "big") % 100000


def token_str(tok: bytes) -> str:
    """The token's text, or vLLM's `bytes:\\xc3` spelling when it is not valid UTF-8 on its own."""
    try:
        return tok.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in tok)


def tokenize(text: str) -> list[bytes]:
    """Regex tokenizer; the first non-ASCII character of a piece is split across two tokens."""
    out = []
    for piece in PROMPT_PIECES.findall(text):
        k = next((i for i, ch in enumerate(piece) if ord(ch) > 127), -1)
        if k < 0:
            out.append(piece.encode())
            continue
        char = piece[k].encode()
        half = len(char) // 2
        if piece[:k]:
            out.append(piece[:k].encode())
        out += [char[:half], char[half:] + piece[k + 1:].encode()]
    return out


def prose(rng: random.Random, *, limit: int, minimum: int = 0, spaced: bool = False) -> tuple[list[bytes], str]:
    """English-looking tokens, 20-60 long unless `minimum`/`limit` say otherwise; returns (tokens, finish).

    Prefix-stable: a smaller `limit` yields a prefix of the same answer, like a real seeded model.
    `spaced` starts with a space, to continue a completions prompt.
    """
    target = rng.randint(20, 60)
    split_at = rng.randint(1, 5)
    split_word = SPLIT_WORDS[rng.randrange(len(SPLIT_WORDS))]
    words, rand, cap = WORDS, rng.random, rng.randrange
    tokens: list[bytes] = []
    sentence_left, start, said = rng.randint(5, 14), True, 0
    while True:
        n = len(tokens)
        if n >= limit:
            return tokens[:limit], "length"
        if n and tokens[-1] == b"." and n >= target and n >= minimum:
            return tokens, "stop"
        if split_at is not None and n >= split_at and not start:
            split_at = None
            if n + len(split_word) <= limit:
                tokens += split_word
                sentence_left -= 1
                continue
        if sentence_left <= 0 or (n >= target and n >= minimum and said >= 3):
            tokens.append(b".")
            r = rand()
            if r < 0.12:
                tokens.append(b"\n\n")
            elif r < 0.2:
                tokens.append(b"\n")
            sentence_left, start, said = 5 + cap(10), True, 0
            continue
        word = words[cap(len(words))]
        if start:
            bare = (not n and not spaced) or tokens[-1:] in ([b"\n"], [b"\n\n"])
            tokens.append((word.capitalize() if bare else " " + word.capitalize()).encode())
            start = False
        else:
            tokens.append(b" " + word.encode())
            if sentence_left > 2 and rand() < 0.08:
                tokens.append(b",")
        sentence_left -= 1
        said += 1


def apply_stop(tokens: list[bytes], stops: list[str]) -> tuple[list[bytes], bool]:
    """Cut just before the first occurrence of any stop string (which may span tokens)."""
    if not stops:
        return tokens, False
    text = b"".join(tokens).decode("utf-8", "replace")
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if cut < 0:
        return tokens, False
    budget, out = len(text[:cut].encode()), []
    for tok in tokens:
        if budget <= 0:
            break
        out.append(tok[:budget])
        budget -= len(tok)
    return out, True


def decode_pieces(tokens: list[bytes]) -> list[str]:
    """Per-token text as a streaming client should show it: partial characters wait for their rest."""
    out, pending = [], b""
    for tok in tokens:
        data = pending + tok
        for cut in range(len(data), max(len(data) - 4, -1), -1):
            try:
                out.append(data[:cut].decode("utf-8"))
                pending = data[cut:]
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(data.decode("utf-8", "replace"))
            pending = b""
    if pending and out:
        out[-1] += pending.decode("utf-8", "replace")
    return out


def logprobs(rng: random.Random, tokens: list[bytes], k: int):
    """Per token: (chosen logprob, [(token, logprob)] top-k sorted descending); probabilities sum <= 1.

    The chosen token is usually ranked first but sometimes second or third, and may fall outside the
    top-k. The chosen value does not depend on k (same number of draws per token).
    """
    out, width, n_alt = [], max(k, 3), len(ALTERNATIVES)
    for tok in tokens:
        p0, rank_draw, u1, u2, start = rng.uniform(0.3, 0.99), rng.random(), rng.uniform(0.2, 0.6), \
            rng.uniform(0.2, 0.6), rng.randrange(n_alt)
        p1 = (1 - p0) * u1
        p2 = (1 - p0 - p1) * u2
        probs = sorted([p0, p1, p2] + [p2 * 0.4 ** i for i in range(1, width - 2)], reverse=True)
        rank = 0 if rank_draw < 0.8 else 1 if rank_draw < 0.95 else 2
        lps = [round(math.log(p * 0.999), 6) for p in probs]
        alts = [a for a in (ALTERNATIVES[(start + 7 * j) % n_alt] for j in range(k + 1)) if a != tok]
        top = [(tok if i == rank else alts[i - (i > rank)], lps[i]) for i in range(k)]
        out.append((lps[rank], top))
    return out
