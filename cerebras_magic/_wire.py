"""Facts about the Cerebras API on the wire, in one place: endpoint paths, value limits, the request fields
each endpoint knows, error bodies, the reasoning rules per model family and the request checks the server
makes before it generates anything.

The client's request models, the local backend and the fake server all import this module, so the three can
not disagree on a limit (a temperature of 2 is refused by each, with the same body). Standard library only.
"""
from __future__ import annotations

ENDPOINTS = ("chat", "completion")
PATHS = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}
KIND_OF_PATH = {path: kind for kind, path in PATHS.items()}

# value limits (cerebras-api.md §2-3): name -> (lowest, highest)
RANGES = {
    "temperature": (0.0, 1.5), "top_p": (0.0, 1.0), "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0), "top_logprobs": (0, 20), "logprobs": (0, 20), "n": (1, 16),
    "logit_bias": (-100.0, 100.0),
}
MAX_STOP = 4
GRAMMAR_ROOTS = ("root", "fcall", "nofcall", "insidevalue", "value", "object", "array", "string", "number",
                 "funcarray", "func", "ws")
REASONING_EFFORTS = ("none", "low", "medium", "high")  # "none": no reasoning (replaces disable_reasoning)
REASONING_FORMATS = ("none", "parsed", "text_parsed", "raw", "hidden")
SERVICE_TIERS = ("auto", "default", "flex", "priority")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
TOOL_CHOICES = ("none", "auto", "required")
MESSAGE_ROLES = ("system", "developer", "user", "assistant", "tool")

LOCAL_BASE_URL = "http://local.cerebras-magic"  # never resolved: the local transport answers in-process

# The request fields each endpoint knows: the official SDK's CompletionCreateParams (cerebras-cloud-sdk 1.91,
# types/chat/completion_create_params.py and types/completion_create_params.py). Since version patch 2 (the
# default from 2026-07-21) any other top-level field is a 400; `X-Cerebras-Version-Patch: 1` ignores them.
KNOWN_FIELDS = {
    "chat": frozenset((
        "model", "messages", "clear_thinking", "frequency_penalty", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "min_completion_tokens", "min_tokens", "model_parameters", "n",
        "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
        "reasoning_format", "response_format", "seed", "service_tier", "stop", "stream", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user")),
    "completion": frozenset((
        "model", "prompt", "best_of", "echo", "frequency_penalty", "grammar_root", "logit_bias", "logprobs",
        "max_tokens", "min_tokens", "n", "presence_penalty", "prompt_cache_key", "reasoning_format",
        "return_raw_tokens", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p",
        "user")),
}
# fields the API removed; version patch 1 still honours them
REMOVED_FIELDS = {"disable_reasoning": "'disable_reasoning' was removed on 2026-07-21; "
                                       "use reasoning_effort=\"none\" to turn reasoning off."}
VERSION_HEADER = "x-cerebras-version-patch"
VERSION_PATCHES = (1, 2)
DEFAULT_VERSION_PATCH = 2

# error bodies as the real API sends them (cerebras-api.md §6)
WRONG_KEY = {"message": "Wrong API Key", "type": "invalid_request_error", "param": "api_key",
             "code": "wrong_api_key"}
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
MODEL_NOT_FOUND = {"message": "Model does not exist or you do not have access to it.",
                   "type": "not_found_error", "param": "model", "code": "model_not_found"}
REQUESTS_EXCEEDED = {"message": "Requests per minute limit exceeded - too many requests sent.",
                     "type": "too_many_requests_error", "param": "quota", "code": "request_quota_exceeded"}
TOKENS_EXCEEDED = {"message": "Tokens per minute limit exceeded - too many tokens processed.",
                   "type": "too_many_requests_error", "param": "quota", "code": "token_quota_exceeded"}
NOT_FOUND_ROUTE = {"detail": "Not Found"}
METHOD_NOT_ALLOWED = {"detail": "Method Not Allowed"}


def bad_request(message: str) -> tuple[int, dict]:
    return 400, {"message": message, "type": "invalid_request_error", "param": "validation_error",
                 "code": "wrong_api_format"}


def unsupported_field(name: str) -> tuple[int, dict]:
    """The body a real server sends for an unknown field (text as captured for `store`)."""
    return bad_request(f"body.{name}: property 'body.{name}' is unsupported")


def unprocessable(*errors: tuple[str, str, str]) -> tuple[int, dict]:
    """FastAPI's 422 shape; each error is (field, msg, type)."""
    return 422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind} for field, msg, kind in errors]}


def stop_list(stop) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]


# ---- reasoning per model family (inference-docs.cerebras.ai/capabilities/reasoning) -------------------------
def reasoning_family(model: str) -> str | None:
    """gpt-oss | qwen3 | glm | r1 for reasoning models, None for the others (llama, gemma, Qwen instruct)."""
    model = model.lower()
    if model.startswith("gpt-oss"):
        return "gpt-oss"
    if model.startswith("zai-glm"):
        return "glm"
    if model.startswith(("qwen-3", "qwen3")) and "instruct" not in model and "coder" not in model:
        return "qwen3"
    if "r1" in model:
        return "r1"
    return None


def default_reasoning_format(model: str, response_format=None) -> str | None:
    """What `reasoning_format` "none" or absent means: Qwen3 "raw" (reasoning as <think>...</think> in the
    content) but "hidden" with JSON output; GLM and GPT-OSS "text_parsed"; None for non-reasoning models."""
    family = reasoning_family(model)
    if family == "qwen3":
        json_out = isinstance(response_format, dict) and response_format.get("type") in RESPONSE_FORMATS[1:]
        return "hidden" if json_out else "raw"
    return {"gpt-oss": "text_parsed", "glm": "text_parsed", "r1": "parsed"}.get(family)


# ---- request checks ----------------------------------------------------------------------------------------
def _number(body: dict, name: str):
    value = body.get(name)
    if value is None:
        return None
    lo, hi = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        return bad_request(f"'{name}' must be a number between {lo:g} and {hi:g}, got {value!r}.")
    return None


def _choice(body: dict, name: str, allowed: tuple):
    value = body.get(name)
    if value is not None and value not in allowed:
        return bad_request(f"'{name}' must be one of {', '.join(allowed)}, got {value!r}.")
    return None


def _typed(body: dict, names: tuple, kind, label: str):
    for name in names:
        value = body.get(name)
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            return bad_request(f"'{name}' must be {label}, got {value!r}.")
    return None


def validate(kind: str, body, version_patch: int = DEFAULT_VERSION_PATCH) -> tuple[int, dict] | None:
    """(status, error body) for a request the real API would refuse, else None. `kind`: chat | completion;
    `version_patch` 1 ignores unknown fields and accepts the removed ones."""
    if not isinstance(body, dict):
        return bad_request("Request body is not valid JSON or not a JSON object.")
    field = "messages" if kind == "chat" else "prompt"
    missing = [(f, "Field required", "missing") for f in ("model", field) if body.get(f) is None]
    if missing:
        return unprocessable(*missing)
    if not isinstance(body["model"], str):
        return unprocessable(("model", "Input should be a valid string", "string_type"))
    if version_patch >= 2:
        for name in body:
            if name in REMOVED_FIELDS:
                return bad_request(REMOVED_FIELDS[name])
            if name not in KNOWN_FIELDS[kind]:
                return unsupported_field(name)
    if kind == "chat":
        messages = body["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            return unprocessable(("messages", "Input should be a valid list of messages", "list_type"))
        if not messages:
            return bad_request("'messages' must contain at least one message.")
        role = next((m["role"] for m in messages if m["role"] not in MESSAGE_ROLES), None)
        if role is not None:
            return bad_request(f"a message's 'role' must be one of {', '.join(MESSAGE_ROLES)}, got {role!r}.")
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        error = _number(body, name)
        if error:
            return error
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            return bad_request("'stop' must be a string or a list of strings.")
        if len(stop) > MAX_STOP:
            return bad_request(f"'stop' accepts at most {MAX_STOP} sequences, got {len(stop)}.")
    error = (_typed(body, ("max_tokens", "max_completion_tokens", "min_tokens", "min_completion_tokens", "n",
                           "seed", "best_of"), int, "an integer")
             or _typed(body, ("stream", "echo", "return_raw_tokens", "parallel_tool_calls", "clear_thinking",
                              "disable_reasoning"), bool, "true or false")
             or _typed(body, ("user", "prompt_cache_key", "suffix"), str, "a string")
             or _choice(body, "reasoning_format", REASONING_FORMATS))
    if error:
        return error
    for name in ("max_tokens", "max_completion_tokens"):
        if (body.get(name) or 0) < 0:
            return bad_request(f"'{name}' must be non-negative.")
    for name in ("min_tokens", "min_completion_tokens"):
        if (body.get(name) or 0) < -1:
            return bad_request(f"'{name}' must be -1, 0 or positive.")
    lo, hi = RANGES["n"]
    if body.get("n") is not None and not lo <= body["n"] <= hi:
        return bad_request(f"'n' must be between {lo} and {hi}, got {body['n']}.")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        return bad_request("'stream_options' must be an object like {\"include_usage\": true}.")
    bias = body.get("logit_bias")
    if bias is not None:
        lo, hi = RANGES["logit_bias"]
        if not isinstance(bias, dict) or not all(
                str(k).isdigit() and not isinstance(v, bool) and isinstance(v, (int, float))
                and lo <= v <= hi for k, v in bias.items()):
            return bad_request(f"'logit_bias' must map token ids to numbers between {lo:g} and {hi:g}.")
    return (_validate_chat if kind == "chat" else _validate_completion)(body)


def _validate_chat(body: dict):
    top = body.get("top_logprobs")
    error = (_typed(body, ("logprobs",), bool, "true or false") or _choice(body, "reasoning_effort", REASONING_EFFORTS)
             or _choice(body, "service_tier", SERVICE_TIERS))
    if error:
        return error
    if top is not None:
        lo, hi = RANGES["top_logprobs"]
        if isinstance(top, bool) or not isinstance(top, int) or not lo <= top <= hi:
            return bad_request(f"'top_logprobs' must be an integer between {lo} and {hi}, got {top!r}.")
        if not body.get("logprobs"):
            return bad_request("'top_logprobs' requires 'logprobs' to be true.")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in RESPONSE_FORMATS:
            return bad_request(f"'response_format.type' must be {', '.join(RESPONSE_FORMATS[:-1])} or "
                               f"{RESPONSE_FORMATS[-1]}, got {kind!r}.")
        if kind == "json_schema" and not isinstance((fmt.get("json_schema") or {}).get("schema"), dict):
            return bad_request("'response_format.json_schema.schema' is required for type json_schema.")
        if kind != "text" and body.get("reasoning_format") == "raw":
            return bad_request(f"'reasoning_format' raw cannot be used with response_format {kind}; "
                               "use parsed or hidden.")
    prediction = body.get("prediction")
    if prediction is not None:
        content = prediction.get("content") if isinstance(prediction, dict) else None
        parts_ok = isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                                     and isinstance(p.get("text"), str) for p in content)
        if not isinstance(prediction, dict) or prediction.get("type") != "content" or not (
                isinstance(content, str) or parts_ok):
            return bad_request("'prediction' must be {\"type\": \"content\", \"content\": \"...\"}.")
    if body.get("model_parameters"):
        return bad_request(f"'model_parameters' is not supported for model {body['model']!r} (it declares none).")
    tools, choice = body.get("tools") or [], body.get("tool_choice")
    if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("function"), dict)
                                              and t["function"].get("name") for t in tools):
        return bad_request("'tools' must be a list of {type: function, function: {name, parameters}}.")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        if wanted not in [t["function"]["name"] for t in tools]:
            return bad_request(f"'tool_choice' names a tool that is not in 'tools': {wanted!r}.")
    elif choice not in (None, *TOOL_CHOICES):
        return bad_request(f"'tool_choice' must be none, auto, required or a named function, got {choice!r}.")
    elif choice == "required" and not tools:
        return bad_request("'tool_choice' is 'required' but no 'tools' were given.")
    return None


def _validate_completion(body: dict):
    k = body.get("logprobs")
    if k is not None and k is not False:
        lo, hi = RANGES["logprobs"]
        if isinstance(k, bool) or not isinstance(k, int) or not lo <= k <= hi:
            return bad_request(f"'logprobs' must be an integer between {lo} and {hi}, got {k!r}.")
    if body.get("echo") and body.get("return_raw_tokens"):
        return bad_request("'echo' and 'return_raw_tokens' cannot be used together.")
    error = _choice(body, "grammar_root", GRAMMAR_ROOTS)
    if error:
        return error
    prompt = body["prompt"]
    ok = isinstance(prompt, str) or (isinstance(prompt, list) and prompt and (
        all(isinstance(p, str) for p in prompt) or all(isinstance(p, int) for p in prompt)
        or all(isinstance(p, list) and all(isinstance(i, int) for i in p) for p in prompt)))
    if not ok:
        return bad_request("'prompt' must be a string, a list of strings, token ids or lists of token ids.")
    return None
