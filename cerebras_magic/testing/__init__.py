"""A fake Cerebras inference server for tests, notebooks, benchmarks and offline work.

It is a real HTTP/1.1 server on 127.0.0.1 (keep-alive, chunked SSE streams) that speaks the wire format of
api.cerebras.ai as described in docs cerebras-api.md, so the official SDK, the openai client and
cerebras_magic all work against it unchanged. Standard library only.

    from cerebras_magic.testing import FakeServer
    with FakeServer(api_key="test-key") as srv:      # or srv = FakeServer().start(); ...; srv.stop()
        client = Cerebras(api_key="test-key", base_url=srv.base_url)   # openai: base_url=srv.base_url + "/v1"
        srv.requests[-1].json                         # every request: method, path, headers, json, body, query
        srv.fault("status:503", times=2)              # the next 2 completion requests fail
        srv.clear_faults(); srv.reset()               # reset() also restores settings and empties `requests`

Command line: `python -m cerebras_magic.testing [--port N] [--key K] [--tps X] [--ttft S] [--done] [--firehose]`
prints the base URL on its first line and serves until Ctrl-C / SIGTERM. In pytest, the `fake_server`
fixture is a fast session-wide server (key "test-key", no pacing) reset for every test; `fake_server_paced`
is a fresh server with the default pace.

Options: `api_key` (None accepts any bearer token; a wrong key gets 401, no Authorization header 403),
`tokens_per_second`/`ttft` (default 2000 tok/s after 0.1 s, paced by the clock in ~5 ms ticks; None means
no sleeps), `firehose` (no sleeps and ~64 KiB socket writes: same events, for client benchmarks), `done`
(end streams with `data: [DONE]`; real Cerebras streams just end; header `x-fake-done: 1|0` overrides per
request), `models` (ids; default llama3.1-8b first), `port`, `requests_per_day`/`tokens_per_minute` (token
buckets behind the x-ratelimit-* headers, charged prompt + max tokens up front, or prompt + generated tokens
without a max; set them small to get the real 429 body).

Endpoints: GET /v1/tcp_warming (no auth), GET /v1/models[/{id}], GET /public/v1/models[/{id}] (no auth,
richer fields), POST /v1/chat/completions and /v1/completions, streaming or not, with the real request
validation (400 wrong_api_format, 422 FastAPI shape) and 404 model_not_found.

Generation is deterministic: the text depends on (endpoint, messages or prompt, seed, temperature, top_p)
through a sha256 hash. Answers are 20-60 English-looking word tokens; `max_completion_tokens`/`max_tokens`
cap them (finish_reason "length"), `min_completion_tokens`/`min_tokens` extend them, and `stop` strings
never appear in the text (cut before the first occurrence, even across tokens). Every answer of 10+ tokens
holds a multi-byte character split across two tokens (e.g. " caf" b"\\xc3" b"\\xa9"); such partial tokens are
spelled `bytes:\\xc3` in logprobs, stream deltas only carry whole characters, and joining the logprob
`bytes` gives the UTF-8 text. Streaming sends one token per chunk; chat streams start with
`delta: {role: assistant, content: ""}` and end with a chunk carrying finish_reason, usage and time_info.
Logprobs: chat `logprobs`/`top_logprobs` and completions `logprobs: K` (legacy shape; `text_offset` counts
from the prompt start with `echo`, else from the start of the generated text), `echo`,
`return_raw_tokens`; `response_format` json_object / json_schema (output validates against the schema);
`tools` (one whole tool call; a named `tool_choice` picks that tool, otherwise the first; after a `tool`
message with tool_choice auto the model answers in text); `n` and lists of prompts give several choices.
Reasoning models (id contains "r1" or "qwen-3", except "instruct" ones) add `message.reasoning` /
`delta.reasoning` unless `reasoning_format` is "hidden" (still counted in usage) or `disable_reasoning`;
"raw" puts `<think>...</think>` into the content. Reasoning tokens count in `completion_tokens` (and in
`completion_tokens_details.reasoning_tokens`) but not against the max.

Faults (see FAULTS) come from the request header `x-fake-fault: <spec>` or from `srv.fault(spec, times=N)`,
which applies to the next N completion requests (chat and text), or to any request with the `;all` modifier.
Specs combine with commas ("crlf,comments"), modifiers follow semicolons ("status:429;retry-after=1.5").
A header fault merges over a queued one. Stream events counted by drop/stream-error/malformed include the
first (role) chunk; an invalid spec in the header gets a 400.
"""
from .faults import FAULTS
from .server import FakeServer, RecordedRequest

__all__ = ["FAULTS", "FakeServer", "RecordedRequest"]
