"""llama.cpp in this process: the local model (load, chat template, KV cache, decode) and its grammar sampler.

Why the grammar is llama.cpp's own: its sampler matches GBNF against the model's real token pieces (UTF-8
split across tokens included) in C++, and llama-cpp-python ships the JSON-schema converter llama.cpp's
server uses, `$defs`/`$ref` included. The sampling loop that uses all this is llama_sampling.py.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Optional


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


def content_text(content) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


_MODELS: dict = {}  # (path, n_ctx, n_threads) -> Model: one load per process
_MODELS_LOCK = threading.Lock()


def shared_model(key: tuple, on_load=None) -> "Model":
    """The process's one Model for `key` (path, n_ctx, n_threads), loaded on first use (then
    `on_load(seconds)` is called)."""
    with _MODELS_LOCK:
        found = _MODELS.get(key)
        if found is None:
            found = _MODELS[key] = Model(Path(key[0]), key[1], key[2])
            if on_load is not None:
                on_load(found.load_seconds)
    return found


def loaded_model(key: Optional[tuple] = None) -> Optional["Model"]:
    """The Model for `key` if it is in memory already; with no key, any loaded Model."""
    return _MODELS.get(key) if key is not None else next(iter(_MODELS.values()), None)


class Model:
    """One llama.cpp context. Every step runs under `lock`; `cached` is what its KV cache holds."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int):
        import numpy as np
        import llama_cpp
        started = time.perf_counter()
        with no_extra_buffers():
            self.llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                       verbose=False)
        self.np, self.n_vocab, self.n_ctx = np, self.llm.n_vocab(), self.llm.n_ctx()
        self.vocab = self.llm._model.vocab
        self.eog_set = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self.vocab, t)}
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
        """The conversation in the model's chat template, opening the answer. A trailing assistant message
        (without tool calls) is a partial answer to continue, as a fork sends it: the template opens the
        answer and its text follows, with no end-of-turn, so the model goes on from its last character."""
        partial = None
        if messages and messages[-1].get("role") == "assistant" and not messages[-1].get("tool_calls"):
            partial, messages = content_text(messages[-1].get("content")), messages[:-1]
        msgs = [{"role": "system" if m.get("role") == "developer" else m.get("role"),
                 "content": content_text(m.get("content"))} for m in messages]
        if self.template is None:  # ChatML, SmolLM2's own format
            turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
            return turns + "<|im_start|>assistant\n" + (partial or "")
        special = {name: self.llm.detokenize([tok], special=True).decode("utf-8", "replace") for name, tok in
                   (("bos_token", self.llm.token_bos()), ("eos_token", self.llm.token_eos()))}
        return self.template.render(messages=msgs, add_generation_prompt=True, **special) + (partial or "")

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


# The converter's string characters admit raw control characters, which JSON (and pydantic) reject;
# llama.cpp's own converter excludes them, as JSON_GBNF does.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


def gbnf_for(response_format) -> Optional[str]:
    """The grammar a chat request's response_format asks for, or None for free text.

    Raises ValueError for a malformed response_format or a schema the converter does not support."""
    fmt = {"type": "text"} if response_format is None else response_format
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        from llama_cpp.llama_grammar import JSON_GBNF
        return JSON_GBNF
    if kind != "json_schema":
        raise ValueError(f"'response_format.type' must be text, json_object or json_schema, got {kind!r}.")
    spec = fmt.get("json_schema")
    if not (isinstance(spec, dict) and isinstance(spec.get("schema"), dict)):
        raise ValueError("'response_format.json_schema.schema' is required for type json_schema.")
    return _schema_gbnf(json.dumps(spec["schema"]))  # property order is kept: it is the output order


@functools.lru_cache(maxsize=64)
def _schema_gbnf(schema: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf
    try:
        return json_schema_to_gbnf(schema).replace(_LOOSE_CHAR, _JSON_CHAR)
    except Exception as exc:  # the converter asserts and raises bare errors on what it does not support
        raise ValueError(f"the local model cannot follow this JSON schema ({type(exc).__name__}: {exc})") from None


class GrammarMask:
    """One llama.cpp grammar sampler, fed from numpy: no Python loop over the vocabulary.

    `llama_token_data_array` points straight at a numpy structured array with the same layout (the dtype is
    built from the ctypes struct), so applying the grammar writes -inf into that array for every token that
    cannot come next. `mask` costs about as much as a decode step; `allows` checks one token, cheaply.
    Call `close()` when done: the sampler is C memory."""

    def __init__(self, vocab, n_vocab: int, gbnf: str):
        import numpy as np
        import llama_cpp
        self._C, self._np = llama_cpp, np
        self._smpl = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not self._smpl:
            raise ValueError("llama.cpp could not parse the grammar")
        dtype = np.dtype(llama_cpp.llama_token_data)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._all, self._one = np.zeros(n_vocab, dtype=dtype), np.zeros(1, dtype=dtype)
        self._all_p, self._one_p = self._array(self._all), self._array(self._one)

    def _array(self, buf):
        data = buf.ctypes.data_as(ctypes.POINTER(self._C.llama_token_data))
        return ctypes.pointer(self._C.llama_token_data_array(data=data, size=len(buf), selected=-1, sorted=False))

    def _apply(self, buf, pointer) -> None:
        pointer.contents.size, pointer.contents.selected, pointer.contents.sorted = len(buf), -1, False
        self._C.llama_sampler_apply(self._smpl, pointer)

    def allows(self, tok: int) -> bool:
        """Whether `tok` may come next (an end-of-generation token only once the grammar is complete)."""
        self._one["id"], self._one["logit"] = tok, 0.0
        self._apply(self._one, self._one_p)
        return bool(self._np.isfinite(self._one["logit"][0]))

    def mask(self, logits):
        """A copy of `logits` with every token the grammar forbids next set to -inf."""
        self._all["id"], self._all["logit"] = self._ids, logits
        self._apply(self._all, self._all_p)
        out = self._np.full_like(logits, -self._np.inf)
        out[self._all["id"]] = self._all["logit"]  # by id: the sampler may reorder the array
        return out

    def accept(self, tok: int) -> None:
        """Advance the grammar past `tok`, which must be allowed (llama.cpp aborts otherwise)."""
        self._C.llama_sampler_accept(self._smpl, tok)

    def close(self) -> None:
        if self._smpl:
            self._C.llama_sampler_free(self._smpl)
            self._smpl = None


_CHECKED: set = set()  # grammars llama.cpp has parsed once already


def check_grammar(vocab, gbnf: Optional[str]) -> None:
    """Raise ValueError now, while a 400 can still be answered, if llama.cpp rejects the grammar."""
    if gbnf is None or gbnf in _CHECKED:
        return
    import llama_cpp
    smpl = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
    if not smpl:
        raise ValueError("the local model cannot follow this response_format: llama.cpp rejected its grammar")
    llama_cpp.llama_sampler_free(smpl)
    if len(_CHECKED) > 256:
        _CHECKED.clear()
    _CHECKED.add(gbnf)
