"""A fake Cerebras inference server for tests, notebooks, benchmarks and offline work.

It is a real HTTP/1.1 server on 127.0.0.1 (keep-alive, chunked SSE streams) that speaks the wire format of
api.cerebras.ai as described in docs cerebras-api.md and the public API docs (as of 2026-08), so the official
SDK (even with strict response validation), the openai client and cerebras_magic all work against it
unchanged. Standard library only.

    from cerebras_magic.testing import FakeServer
    with FakeServer(api_key="test-key") as srv:      # or srv = FakeServer().start(); ...; srv.stop()
        client = Cerebras(api_key="test-key", base_url=srv.base_url)   # openai: base_url=srv.base_url + "/v1"
        srv.requests[-1].json                         # every request: method, path, headers, json, body, query
        srv.fault("status:503", times=2)              # the next 2 completion requests fail
        srv.clear_faults(); srv.reset()               # reset() also restores settings, empties `requests`,
                                                      # refills the rate buckets and clears the prompt cache
Command line: `python -m cerebras_magic.testing [--port N] [--key K] [--tps X] [--ttft S] [--done] [--firehose]
[--rpd N] [--rpm N] [--tpm N] [--uncached-tpm N]` prints the base URL as its first stdout line, then on stderr
`export CEREBRAS_BASE_URL=...` and `export CEREBRAS_API_KEY=...` (the --key, or a placeholder when any key is
accepted), and serves until Ctrl-C / SIGTERM. In pytest, the `fake_server` fixture is a fast session-wide
server (key "test-key", no pacing) reset for every test; `fake_server_paced` is a fresh one with the default pace.

Options: `api_key` (None accepts any bearer token; a wrong key gets 401, no Authorization header 403
{"detail":"Not authenticated"}), `tokens_per_second`/`ttft` (default 2000 tok/s after 0.1 s, paced by the
clock in ~5 ms ticks; None means no sleeps), `firehose` (no sleeps and ~64 KiB socket writes: same events, for
client benchmarks), `done` (end streams with `data: [DONE]`; real Cerebras streams just end; header
`x-fake-done: 1|0` overrides per request), `models` (ids; default api.DEFAULT_MODELS), `port`, rate limits
(below), `cache_ttl` (seconds, default 300), `continue_final_message` and `echo_null` (below).

Endpoints: GET /v1/tcp_warming (no auth), GET /v1/models[/{id}] (`?format=openrouter|huggingface` as the SDK
types them), GET /public/v1/models[/{id}] (no auth: name, pricing with `input_cache_read`, limits,
capabilities, supported_parameters, architecture, deprecated, preview, a real `created`), POST
/v1/chat/completions and /v1/completions, streaming or not, with the real request validation (400
wrong_api_format, 422 FastAPI shape) and 404 model_not_found for an id not in `models`.

Models (api.py): gpt-oss-120b first, then llama-3.3-70b, zai-glm-4.7, gemma-4-31b, qwen-3.8-27b; the retired
ids (llama3.1-8b, qwen-3-32b, qwen-3-235b-a22b[-instruct-2507], llama-4-*, deepseek-r1-distill-llama-70b) are
still served, marked deprecated. Reasoning (rules in cerebras_magic/_wire.py, shared with the client): gpt-oss
and zai-glm default to reasoning_format "text_parsed" (reasoning in `message.reasoning` / `delta.reasoning`,
its logprobs ahead of the content's in `logprobs`); Qwen3 (qwen-3*, not instruct/coder) to "raw"
(`<think>...</think>` in the content) but "hidden" with json_object/json_schema output; llama and gemma do not
reason. "parsed" puts reasoning logprobs in `reasoning_logprobs` (per chunk when streamed), "raw" glues
GPT-OSS reasoning to the content with no separator, "hidden" sends no reasoning but counts it. The retired
qwen-3-32b and qwen-3-235b-a22b keep "parsed", as this server gave them before. `reasoning_effort`
none|low|medium|high: none turns reasoning off, the others give 8-12 tokens times 1, 2 or 4 (medium is the
default). Reasoning counts in `completion_tokens` and `completion_tokens_details.reasoning_tokens`, and
against max_completion_tokens (the SDK documents the max as including reasoning). `clear_thinking` is
accepted for every model; only GLM given false keeps earlier assistant messages' `reasoning` in the prompt.

Request fields (version patch 2, the default since 2026-07-21): only the official SDK's fields are known
(_wire.KNOWN_FIELDS); any other top-level field is a 400 "body.<name>: property 'body.<name>' is unsupported",
and `disable_reasoning` a 400 saying it was removed (use reasoning_effort="none"). The request header
`X-Cerebras-Version-Patch: 1` restores the lenient behaviour: unknown fields ignored, disable_reasoning
honoured. `prediction` fills `completion_tokens_details.accepted_prediction_tokens` (the answer's leading
tokens that match it) and `rejected_prediction_tokens` (the prediction's tokens left over); `service_tier` is
echoed ("auto" as "default"); `model_parameters` must be empty (no model declares any); `prompt_cache_key`,
`user`, `logit_bias`, `suffix`, `best_of` are checked and otherwise ignored.

Generation is deterministic: the text depends on (endpoint, messages or prompt, seed, temperature, top_p)
through a sha256 hash. Answers are 20-60 English-looking word tokens; `max_completion_tokens`/`max_tokens`
cap them (finish_reason "length"), `min_completion_tokens`/`min_tokens` extend them, and `stop` strings
never appear in the text (cut before the first occurrence, even across tokens). Every answer of 10+ tokens
holds a multi-byte character split across two tokens (e.g. " caf" b"\\xc3" b"\\xa9"); such partial tokens are
spelled `bytes:\\xc3` in logprobs, stream deltas only carry whole characters, and joining the logprob
`bytes` gives the UTF-8 text. Streaming sends one token per chunk; chat streams start with
`delta: {role: assistant, content: ""}` and end with a chunk carrying finish_reason, usage and time_info.
Logprobs: chat `logprobs`/`top_logprobs` and completions `logprobs: K` (legacy shape; `text_offset` counts
from the prompt start with `echo`, else from the start of the generated text; the first echoed token has a
number, not OpenAI's null, since the SDK's schema allows none; `echo_null=True` or header `x-fake-echo-null:
1` sends the null, as vLLM and OpenAI do), `echo`, `return_raw_tokens`; `response_format`
json_object / json_schema (output validates against the schema); `n` and lists of prompts give several choices.

Continuing an assistant message: no public Cerebras source documents it (no `prefix` or
`continue_final_message` field in the SDK or the API reference; such a field is a 400 under patch 2). The
docs' reasoning example sends a trailing assistant message without saying what the model does with it.
This server continues a trailing assistant message without tool_calls (`continue_final_message=True`, or
header `x-fake-continue: 1|0`): the answer holds only the continuation, with no new reasoning; when the
text is a start of the answer the fake would give to the conversation before it, the rest of that answer
(so forking an answer at one of its own tokens gives it back), else fresh text seeded by the prefix. With
False the trailing message is history and a new turn starts. /v1/completions continues any raw prompt.

Tool calls (rules in tools.py): a tool is called when the last user message names it, its words or a word
of its description, with arguments valid for its schema and values from the prompt (quoted strings, or
capitalised names after in/for/at/...; numbers in order; `name: value`; through `$ref`s, Optionals and nested
models); several things ("Paris and Rome")
give parallel calls unless `parallel_tool_calls` is false or the model lists parallel_tool_calls false
(gpt-oss). tool_choice none / auto / required / a named function are honoured; after `tool` messages (with
auto) the answer is text naming each tool and its result, so a loop ends. finish_reason "tool_calls";
streamed calls come whole in one chunk (`delta.tool_calls` with `index`), or split under a fault.

Prompt cache (cache.py, as Cerebras documents it): the prompt is cut into 128-token blocks; blocks matching
a prefix the server saw for the same model within `cache_ttl` count in `usage.prompt_tokens_details.
cached_tokens` (whole blocks only). Rate limits (ratelimit.py): `requests_per_day`, `requests_per_minute`
(None: no bucket), `tokens_per_minute` (total) and `uncached_tokens_per_minute` (default: the total's
value) are token buckets charged up front with prompt + max_completion_tokens (prompt + generated tokens
when no max is given; cached prompt tokens spare the uncached bucket). Headers on every response:
x-ratelimit-{limit,remaining,reset}-{requests-day,tokens-minute,uncached-tokens-minute} (and
-requests-minute when set). A spent bucket gives the real 429 body with `retry-after` (whole seconds) and
`retry-after-ms`.

Faults (see FAULTS) come from the request header `x-fake-fault: <spec>` or from `srv.fault(spec, times=N)`,
which applies to the next N completion requests (chat and text), or to any request with the `;all` modifier.
Specs combine with commas ("crlf,comments"), modifiers follow semicolons ("status:429;retry-after=1.5").
A header fault merges over a queued one. Stream events counted by drop/stream-error/malformed include the
first (role) chunk; an invalid spec in the header gets a 400.
"""
from .faults import FAULTS
from .server import FakeServer, RecordedRequest

__all__ = ["FAULTS", "FakeServer", "RecordedRequest"]
