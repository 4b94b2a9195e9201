"""The local model's sampling loop: our own, over llama.cpp's logits, one token per step.

Why our own loop: llama-cpp-python's logprobs path works over the whole vocabulary in Python (measured:
21 tokens/s with top-5 logprobs, against 79 for this loop; bench/local.py). Logprobs are the log-softmax of
the raw logits, before temperature, top_p, logit_bias, min-token and grammar masking: the model's own
distribution, as vLLM reports it (a grammar changes what can be chosen, not what the model thought).
"""
from __future__ import annotations

import codecs
import json
import time
from typing import Optional

from . import _tools as tools
from ._engine import GrammarMask, Model, check_grammar, gbnf_for
from ._engine import _schema_gbnf as schema_gbnf  # (a tool call's arguments: its parameters' schema)


class BadRequest(ValueError):
    """A request the local model cannot serve as asked (the wire answers it with a 400)."""


class Generation:
    """One request's generation on the shared model: its parameters, sampling loop, stop strings, grammar and
    logprobs. `steps()` yields the output; `finish`, `generated`, `times`, `cached_tokens` describe it after.

    `body` is a validated chat (`kind` "chat") or completion request; `arrived` its perf_counter time."""

    def __init__(self, model: Model, kind: str, body: dict, arrived: float):
        self.model, self.arrived, self.gbnf, self.grammar = model, arrived, None, None
        self.cancelled, self.finish, self.generated, self.cached_tokens, self.tool = False, None, 0, 0, None
        self.done, self.saved = False, None  # saved: the KV cache while another generation runs
        self.times = {"queue_time": 0.0, "prompt_time": 0.0, "completion_time": 0.0}
        if kind == "chat":
            self.tool = tools.pick(body)  # a tool call: its arguments, under the grammar of its schema
            self.prompt_text = model.chat_prompt(tools.for_model(body, self.tool is not None))
            if self.tool:
                self.prompt_text += tools.prefix(self.tool)
            self.prompt_ids = model.tokenize(self.prompt_text)
            limit = body.get("max_completion_tokens", body.get("max_tokens"))
            floor = body.get("min_completion_tokens", body.get("min_tokens"))
            self.top_k = (body.get("top_logprobs") or 0) if body.get("logprobs") and not self.tool else None
            self.echo = False
            try:
                self.gbnf = (schema_gbnf(json.dumps(tools.schema(self.tool))) if self.tool
                             else gbnf_for(body.get("response_format")))
                check_grammar(model.vocab, self.gbnf)
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
        else:
            prompt = body["prompt"]
            prompt = prompt[0] if isinstance(prompt, list) and prompt and isinstance(prompt[0], (str, list)) else prompt
            if isinstance(prompt, str):
                self.prompt_text, self.prompt_ids = prompt, model.tokenize(prompt)
            else:
                self.prompt_ids = [int(t) for t in prompt]
                self._check_ids(self.prompt_ids)  # an unknown id would abort llama.cpp
                self.prompt_text = b"".join(map(model.piece, self.prompt_ids)).decode("utf-8", "replace")
            limit, floor = body.get("max_tokens"), body.get("min_tokens")
            self.top_k = body.get("logprobs")  # an int, or None: no logprobs
            self.echo = bool(body.get("echo"))
        self.bias = body["logit_bias"]
        self._check_ids(self.bias)
        room = model.n_ctx - len(self.prompt_ids)
        if room <= 0 or not self.prompt_ids:
            raise BadRequest(f"the prompt is {len(self.prompt_ids)} tokens; the local model needs 1 to "
                             f"{model.n_ctx - 1} (its context is {model.n_ctx} tokens)")
        self.max_new = min(limit or room, room)
        self.min_new = self.max_new if floor == -1 else min(floor or 0, self.max_new)
        stop = body.get("stop") or []
        self.stops = [s for s in ([stop] if isinstance(stop, str) else stop) if s]
        self.temperature = 1.0 if body.get("temperature") is None else float(body["temperature"])
        self.top_p = 1.0 if body.get("top_p") is None else float(body["top_p"])
        self.rng = model.np.random.default_rng(body.get("seed"))

    def _check_ids(self, ids) -> None:
        if any(not 0 <= t < self.model.n_vocab for t in ids):
            raise BadRequest(f"token ids must be from 0 to {self.model.n_vocab - 1} for the local model")

    def counted(self) -> None:
        """Called once per sampled token (subclasses count them elsewhere too)."""
        self.generated += 1

    def _sample(self, logits, n: int) -> Optional[int]:
        """The next token, or None when the grammar leaves nothing to choose."""
        np = self.model.np
        if n < self.min_new or self.bias:
            logits = logits.copy()
            for tok, b in self.bias.items():
                logits[tok] += b
            if n < self.min_new:
                logits[self.model.eog] = -np.inf
        if self.grammar is None:
            return self._draw(logits)
        if self.top_p >= 1.0 or self.temperature <= 0:
            # A draw the grammar allows is exactly a draw from the masked distribution (rejection
            # sampling); with top_p the nucleus would differ, so there the whole vocabulary is masked.
            tok = self._draw(logits)
            if self.grammar.allows(tok):
                return tok
        logits = self.grammar.mask(logits)
        return self._draw(logits) if np.isfinite(logits.max()) else None

    def _draw(self, logits) -> int:
        np = self.model.np
        if self.temperature <= 0:
            return int(np.argmax(logits))
        p = np.exp((logits - logits.max()) / self.temperature)
        ids = None
        if self.top_p < 1.0:  # nucleus: sort only the head of the distribution when it holds top_p
            want = self.top_p * p.sum()
            ids = np.argpartition(p, -256)[-256:]  # the vocabulary is far larger than 256
            ids = ids[np.argsort(-p[ids])]
            if p[ids].sum() < want:
                ids = np.argsort(-p)
            cum = np.cumsum(p[ids])
            ids = ids[:int(np.searchsorted(cum, want)) + 1]
            p = p[ids]
        cum = np.cumsum(p)
        at = min(int(np.searchsorted(cum, self.rng.random() * cum[-1], side="right")), len(cum) - 1)
        return int(at if ids is None else ids[at])

    def logprobs(self, logits, tok: int):
        np = self.model.np
        top_max = logits.max()
        lse = float(top_max + np.log(np.exp(logits - top_max).sum()))
        top = []
        if self.top_k:
            ids = np.argpartition(logits, -self.top_k)[-self.top_k:]
            ids = ids[np.argsort(-logits[ids])]
            top = [(int(i), float(logits[i]) - lse) for i in ids]
        return float(logits[tok]) - lse, top

    def _echo_entries(self, scores: list) -> list:
        """Prompt tokens as entries, with their logprobs when asked (the first token has none)."""
        out, text, dec = [], "", codecs.getincrementaldecoder("utf-8")("replace")
        for tok, (lp, top) in zip(self.prompt_ids, scores + [(None, None)] * len(self.prompt_ids)):
            piece = self.model.piece(tok)
            out.append((tok, piece, len(text), lp, top))
            text += dec.decode(piece)
        return out

    def _locked(self, step):
        """Run one model step under the lock; waiting counts as queue time, the work as `step`'s time."""
        model, asked = self.model, time.perf_counter()
        with model.lock:
            got = time.perf_counter()
            self.times["queue_time"] += got - asked
            if model.owner is not self:
                model.hand_over(self)
            return step(), time.perf_counter() - got

    def steps(self):
        """`_steps`, marking the generation done however it ends (a paused KV cache copy is dropped, the
        grammar sampler freed: also when a reader closes the stream early)."""
        if self.gbnf is not None:
            self.grammar = GrammarMask(self.model.vocab, self.model.n_vocab, self.gbnf)
        try:
            yield from self._steps()
        finally:
            self.done, self.saved = True, None
            if self.grammar is not None:
                self.grammar.close()

    def _steps(self):
        """Yield (text, entries) as tokens are made; entries are (id, bytes, text_offset, logprob, top).

        Text is held back while it could still be the start of a stop string, and bytes until they decode;
        an entry goes out with the first text at or after its first byte. Sets `finish` at the end."""
        model, want_lp, ids = self.model, self.top_k is not None, self.prompt_ids
        scores, score = [(None, None)], None
        if self.echo and want_lp:
            def score(rows, first: int):
                scores.extend(self.logprobs(row, ids[n]) for n, row in enumerate(rows, first + 1) if n < len(ids))
        self.times["queue_time"] += time.perf_counter() - self.arrived
        (logits, self.cached_tokens), took = self._locked(lambda: model.prefill(ids, score))
        self.times["prompt_time"] = took
        if self.echo:
            yield self.prompt_text, self._echo_entries(scores if want_lp else [])
        dec, text, sent, sent_bytes, nbytes, held = codecs.getincrementaldecoder("utf-8")("replace"), "", 0, 0, 0, []
        base, generated = len(self.prompt_text), []
        for n in range(self.max_new):
            if self.cancelled:
                return
            if n:
                logits, took = self._locked(lambda: model.decode(generated[-1:]))
                self.times["completion_time"] += took
            started = time.perf_counter()
            tok = self._sample(logits, n)
            if tok is None:  # nothing left that the grammar allows (complete, but min tokens forbid the end)
                self.finish = "stop"
                break
            lp, top = self.logprobs(logits, tok) if want_lp else (None, None)
            self.counted()
            if tok in model.eog_set:
                self.finish = "stop"
                break
            if self.grammar is not None:
                self.grammar.accept(tok)
            generated.append(tok)
            piece = model.piece(tok)
            held.append((tok, piece, base + len(text), lp, top, nbytes))
            nbytes += len(piece)
            text += dec.decode(piece)
            cut = self._find_stop(text, sent)
            safe = cut if cut is not None else len(text) - self._hold(text, sent)
            out, sent = text[sent:safe], max(sent, safe)
            sent_bytes += len(out.encode("utf-8"))
            ready = [e for e in held if e[5] < sent_bytes]
            held = held[len(ready):]
            self.times["completion_time"] += time.perf_counter() - started
            if cut is not None:
                self.finish = "stop"
                yield out, [e[:5] for e in ready]
                return
            if out or ready:
                yield out, [e[:5] for e in ready]
        else:
            self.finish = "length"
        text += dec.decode(b"", final=True)
        if text[sent:] or held:
            yield text[sent:], [e[:5] for e in held]

    def _find_stop(self, text: str, sent: int) -> Optional[int]:
        hits = [i for s in self.stops if (i := text.find(s, max(0, sent - len(s) + 1))) >= 0]
        return min(hits) if hits else None

    def _hold(self, text: str, sent: int) -> int:
        """How many trailing characters could still begin a stop string."""
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text) - sent), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        return hold
