"""What the real API says before it generates anything: the model catalog, error bodies and request
validation, with the exact shapes of cerebras-api.md §6-7 so client error handling is tested for real."""
from __future__ import annotations

DEFAULT_MODELS = (
    "llama3.1-8b", "llama-3.3-70b", "qwen-3-32b", "qwen-3-235b-a22b-instruct-2507", "qwen-3-235b-a22b",
    "llama-4-scout-17b-16e-instruct", "llama-4-maverick-17b-128e-instruct", "deepseek-r1-distill-llama-70b",
)
MODEL_INFO = {  # id: (name, price in / out per M tokens, context, max completion, hugging face id)
    "llama3.1-8b": ("Llama 3.1 8B", 0.10, 0.10, 32768, 8192, "meta-llama/Llama-3.1-8B-Instruct"),
    "llama-3.3-70b": ("Llama 3.3 70B", 0.85, 1.20, 65536, 8192, "meta-llama/Llama-3.3-70B-Instruct"),
    "qwen-3-32b": ("Qwen 3 32B", 0.40, 0.80, 65536, 16384, "Qwen/Qwen3-32B"),
    "qwen-3-235b-a22b-instruct-2507": ("Qwen 3 235B Instruct", 0.60, 1.20, 65536, 32768,
                                       "Qwen/Qwen3-235B-A22B-Instruct-2507"),
    "qwen-3-235b-a22b": ("Qwen 3 235B", 0.60, 1.20, 65536, 32768, "Qwen/Qwen3-235B-A22B"),
    "llama-4-scout-17b-16e-instruct": ("Llama 4 Scout", 0.65, 0.85, 32768, 8192,
                                       "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
    "llama-4-maverick-17b-128e-instruct": ("Llama 4 Maverick", 0.20, 0.60, 32768, 8192,
                                           "meta-llama/Llama-4-Maverick-17B-128E-Instruct"),
    "deepseek-r1-distill-llama-70b": ("DeepSeek R1 Distill Llama 70B", 2.20, 2.50, 65536, 8192,
                                      "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"),
}
CREATED = 1721692800
PARAMS = ("frequency_penalty", "logit_bias", "logprobs", "max_completion_tokens", "presence_penalty", "seed",
          "stop", "temperature", "top_logprobs", "top_p")

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


def is_reasoning(model: str) -> bool:
    """Reasoning models per the project's rule ("r1" or "qwen-3" in the id), minus instruct-only ones."""
    return ("r1" in model or "qwen-3" in model) and "instruct" not in model


def model_object(model: str) -> dict:
    return {"id": model, "object": "model", "created": CREATED, "owned_by": "cerebras"}


def public_model(model: str) -> dict:
    """The richer /public/v1/models entry (the SDK's `PublicModel` shape)."""
    name, p_in, p_out, ctx, max_out, hf = MODEL_INFO.get(model, (model, 0.5, 1.0, 32768, 8192, None))
    reasoning = is_reasoning(model)
    return {
        **model_object(model), "name": name, "description": f"{name}, served by the fake Cerebras server.",
        "hugging_face_id": hf,
        "architecture": {"modality": "text", "tokenizer": "Qwen3" if "qwen" in model else "Llama3",
                         "instruct_type": "chatml" if "qwen" in model else "llama3"},
        "capabilities": {"function_calling": True, "json_mode": True, "parallel_tool_calls": False,
                         "reasoning": reasoning, "response_format": True, "streaming": True,
                         "structured_outputs": True, "tool_choice": True, "tools": True, "vision": False},
        "limits": {"max_context_length": ctx, "max_completion_tokens": max_out,
                   "requests_per_minute": 30, "tokens_per_minute": 60000},
        "pricing": {"prompt": f"{p_in / 1e6:.10f}".rstrip("0"), "completion": f"{p_out / 1e6:.10f}".rstrip("0")},
        "supported_parameters": {p: True for p in PARAMS},
        "deprecated": model == "deepseek-r1-distill-llama-70b", "preview": "llama-4" in model,
    }


def bad_request(message: str) -> tuple[int, dict]:
    return 400, {"message": message, "type": "invalid_request_error", "param": "validation_error",
                 "code": "wrong_api_format"}


def unprocessable(*errors: tuple[str, str, str]) -> tuple[int, dict]:
    """FastAPI's 422 shape; each error is (field, msg, type)."""
    return 422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind} for field, msg, kind in errors]}


def stop_list(stop) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]


def _number(body: dict, name: str, lo: float, hi: float):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        return bad_request(f"'{name}' must be a number between {lo} and {hi}, got {value!r}.")
    return None


def validate(kind: str, body) -> tuple[int, dict] | None:
    """Return (status, error body) for a request the real API would refuse, else None."""
    if not isinstance(body, dict):
        return bad_request("Request body is not valid JSON or not a JSON object.")
    field = "messages" if kind == "chat" else "prompt"
    missing = [(f, "Field required", "missing") for f in ("model", field) if body.get(f) is None]
    if missing:
        return unprocessable(*missing)
    if not isinstance(body["model"], str):
        return unprocessable(("model", "Input should be a valid string", "string_type"))
    if kind == "chat":
        messages = body["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            return unprocessable(("messages", "Input should be a valid list of messages", "list_type"))
        if not messages:
            return bad_request("'messages' must contain at least one message.")
    for name, lo, hi in (("temperature", 0, 1.5), ("top_p", 0, 1), ("frequency_penalty", -2, 2),
                         ("presence_penalty", -2, 2)):
        error = _number(body, name, lo, hi)
        if error:
            return error
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            return bad_request("'stop' must be a string or a list of strings.")
        if len(stop) > 4:
            return bad_request(f"'stop' accepts at most 4 sequences, got {len(stop)}.")
    for name in ("max_tokens", "max_completion_tokens", "min_tokens", "min_completion_tokens", "n", "seed"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return bad_request(f"'{name}' must be an integer, got {value!r}.")
    for name in ("max_tokens", "max_completion_tokens"):
        if (body.get(name) or 0) < 0:
            return bad_request(f"'{name}' must be non-negative.")
    for name in ("min_tokens", "min_completion_tokens"):
        if (body.get(name) or 0) < -1:
            return bad_request(f"'{name}' must be -1, 0 or positive.")
    if not 1 <= (body.get("n") or 1) <= 16:
        return bad_request("'n' must be between 1 and 16.")
    return (_validate_chat if kind == "chat" else _validate_completion)(body)


def _validate_chat(body: dict):
    top = body.get("top_logprobs")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            return bad_request(f"'top_logprobs' must be an integer between 0 and 20, got {top!r}.")
        if not body.get("logprobs"):
            return bad_request("'top_logprobs' requires 'logprobs' to be true.")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return bad_request(f"'response_format.type' must be text, json_object or json_schema, got {kind!r}.")
        if kind == "json_schema" and not isinstance((fmt.get("json_schema") or {}).get("schema"), dict):
            return bad_request("'response_format.json_schema.schema' is required for type json_schema.")
    tools, choice = body.get("tools") or [], body.get("tool_choice")
    if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("function"), dict)
                                              and t["function"].get("name") for t in tools):
        return bad_request("'tools' must be a list of {type: function, function: {name, parameters}}.")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        if wanted not in [t["function"]["name"] for t in tools]:
            return bad_request(f"'tool_choice' names a tool that is not in 'tools': {wanted!r}.")
    elif choice not in (None, "none", "auto", "required"):
        return bad_request(f"'tool_choice' must be none, auto, required or a named function, got {choice!r}.")
    elif choice == "required" and not tools:
        return bad_request("'tool_choice' is 'required' but no 'tools' were given.")
    return None


def _validate_completion(body: dict):
    k = body.get("logprobs")
    if k is not None and k is not False:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 20:
            return bad_request(f"'logprobs' must be an integer between 0 and 20, got {k!r}.")
    if body.get("echo") and body.get("return_raw_tokens"):
        return bad_request("'echo' and 'return_raw_tokens' cannot be used together.")
    prompt = body["prompt"]
    ok = isinstance(prompt, str) or (isinstance(prompt, list) and prompt and (
        all(isinstance(p, str) for p in prompt) or all(isinstance(p, int) for p in prompt)
        or all(isinstance(p, list) and all(isinstance(i, int) for i in p) for p in prompt)))
    if not ok:
        return bad_request("'prompt' must be a string, a list of strings, token ids or lists of token ids.")
    return None
