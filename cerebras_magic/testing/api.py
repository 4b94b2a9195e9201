"""The fake server's model catalogue (cerebras-api.md §7, updated from the public docs as of 2026-08).

Current shared models come first; the ids Cerebras retired (llama3.1-8b and qwen-3-235b-a22b-instruct-2507 on
2026-05-27, and the older ones) stay listed with `deprecated: true` so code and tests written for them still
run. Reasoning rules per family are wire facts (cerebras_magic/_wire.py); a retired id may pin the reasoning
format the fake gave it before, since there is no live model left to imitate. Figures marked "illustrative"
were not found in a public source. Standard library only.
"""
from __future__ import annotations

from .. import _wire as wire

DEFAULT_MODELS = (
    "gpt-oss-120b", "llama-3.3-70b", "zai-glm-4.7", "gemma-4-31b", "qwen-3.8-27b",
    # retired, kept for older code (deprecated: true)
    "llama3.1-8b", "qwen-3-32b", "qwen-3-235b-a22b-instruct-2507", "qwen-3-235b-a22b",
    "llama-4-scout-17b-16e-instruct", "llama-4-maverick-17b-128e-instruct", "deepseek-r1-distill-llama-70b",
)
# id: name, owner, created (epoch), $ in / out per M tokens, context, max completion, hugging face id, flags
# flags: "deprecated", "preview", "vision", "serial" (one tool call per message), "legacy-parsed" (reasoning
# format pinned to parsed, as the fake served this retired id before 2026-07)
MODEL_INFO = {
    # gpt-oss-120b: created, owner, prices and limits from GET /public/v1/models in the API reference
    "gpt-oss-120b": ("OpenAI GPT OSS", "OpenAI", 1754438400, 0.35, 0.75, 131072, 40960, "openai/gpt-oss-120b",
                     {"serial"}),
    "llama-3.3-70b": ("Llama 3.3 70B", "Meta", 1733443200, 0.85, 1.20, 131072, 8192,
                      "meta-llama/Llama-3.3-70B-Instruct", set()),
    "zai-glm-4.7": ("Z.ai GLM 4.7", "Z.ai", 1766361600, 2.25, 2.75, 131072, 40000, "zai-org/GLM-4.7",
                    {"preview"}),  # prices illustrative
    "gemma-4-31b": ("Gemma 4 31B", "Google", 1775001600, 0.40, 0.80, 131072, 32768, "google/gemma-4-31b-it",
                    {"vision"}),  # created, prices and max completion illustrative
    "qwen-3.8-27b": ("Qwen 3.8 27B", "Alibaba", 1777593600, 0.40, 0.80, 131072, 32768, "Qwen/Qwen3.8-27B",
                     {"preview"}),  # illustrative throughout
    "llama3.1-8b": ("Llama 3.1 8B", "Meta", 1721692800, 0.10, 0.10, 32768, 8192,
                    "meta-llama/Llama-3.1-8B-Instruct", {"deprecated"}),
    "qwen-3-32b": ("Qwen 3 32B", "Alibaba", 1745971200, 0.40, 0.80, 65536, 16384, "Qwen/Qwen3-32B",
                   {"deprecated", "legacy-parsed"}),
    "qwen-3-235b-a22b-instruct-2507": ("Qwen 3 235B Instruct", "Alibaba", 1753142400, 0.60, 1.20, 65536, 32768,
                                       "Qwen/Qwen3-235B-A22B-Instruct-2507", {"deprecated"}),
    "qwen-3-235b-a22b": ("Qwen 3 235B", "Alibaba", 1745971200, 0.60, 1.20, 65536, 32768, "Qwen/Qwen3-235B-A22B",
                         {"deprecated", "legacy-parsed"}),
    "llama-4-scout-17b-16e-instruct": ("Llama 4 Scout", "Meta", 1743897600, 0.65, 0.85, 32768, 8192,
                                       "meta-llama/Llama-4-Scout-17B-16E-Instruct", {"deprecated"}),
    "llama-4-maverick-17b-128e-instruct": ("Llama 4 Maverick", "Meta", 1743897600, 0.20, 0.60, 32768, 8192,
                                           "meta-llama/Llama-4-Maverick-17B-128E-Instruct", {"deprecated"}),
    "deepseek-r1-distill-llama-70b": ("DeepSeek R1 Distill Llama 70B", "DeepSeek", 1737590400, 2.20, 2.50, 65536,
                                      8192, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", {"deprecated"}),
}
_UNKNOWN = (None, "cerebras", 1721692800, 0.5, 1.0, 32768, 8192, None, set())
PARAMS = ("frequency_penalty", "logit_bias", "logprobs", "max_completion_tokens", "presence_penalty", "seed",
          "stop", "temperature", "top_logprobs", "top_p")
TOKENIZERS = {"gpt-oss": ("GPT", "harmony"), "qwen3": ("Qwen3", "chatml"), "glm": ("GLM", "glm")}


def _info(model: str) -> tuple:
    name, *rest = MODEL_INFO.get(model, _UNKNOWN)
    return (name or model, *rest)


def is_reasoning(model: str) -> bool:
    return wire.reasoning_family(model) is not None


def default_format(model: str, response_format=None) -> str | None:
    """The reasoning format the fake uses when the request names none: the wire rule, or a retired id's pin."""
    if "legacy-parsed" in _info(model)[-1]:
        return "parsed"
    return wire.default_reasoning_format(model, response_format)


def parallel_tools(model: str) -> bool:
    """Whether the model may put several tool calls in one message (gpt-oss: no, per its capabilities)."""
    return "serial" not in _info(model)[-1]


def model_object(model: str) -> dict:
    return {"id": model, "object": "model", "created": _info(model)[2], "owned_by": "cerebras"}


def _price(per_million: float) -> str:
    return f"{per_million / 1e6:.10f}".rstrip("0")


def public_model(model: str) -> dict:
    """The richer /public/v1/models entry (the SDK's `PublicModel`). `input_cache_read` (the OpenRouter name
    for a cached prompt token) equals the prompt price: Cerebras documents caching as a latency feature."""
    name, owner, created, p_in, p_out, ctx, max_out, hf, flags = _info(model)
    family = wire.reasoning_family(model)
    tokenizer, instruct = TOKENIZERS.get(family, ("Llama3", "llama3") if "llama" in model else ("Gemma", "gemma"))
    return {
        **model_object(model), "owned_by": owner, "name": name,
        "description": f"{name}, served by the fake Cerebras server.", "hugging_face_id": hf,
        "pricing": {"prompt": _price(p_in), "completion": _price(p_out), "input_cache_read": _price(p_in)},
        "capabilities": {"streaming": True, "function_calling": True, "structured_outputs": True,
                         "vision": "vision" in flags, "json_mode": True, "tools": True, "tool_choice": True,
                         "parallel_tool_calls": "serial" not in flags, "response_format": True,
                         "reasoning": family is not None},
        "supported_parameters": {**{p: True for p in PARAMS}, "repetition_penalty": False},
        "architecture": {"modality": "text+vision" if "vision" in flags else "text", "tokenizer": tokenizer,
                         "instruct_type": instruct},
        "limits": {"max_context_length": ctx, "max_completion_tokens": max_out, "requests_per_minute": None,
                   "tokens_per_minute": None},
        "datacenter_locations": [], "deprecated": "deprecated" in flags, "preview": "preview" in flags,
        "quantization": "FP16",
    }


def openrouter_model(model: str) -> dict:
    """`GET /v1/models?format=openrouter` (the SDK's `OpenRouterModel`)."""
    name, _, created, p_in, p_out, ctx, max_out, hf, flags = _info(model)
    return {"id": f"cerebras/{model}", "name": name, "created": created, "context_length": ctx,
            "max_output_length": max_out, "hugging_face_id": hf, "quantization": "fp16",
            "pricing": {"prompt": _price(p_in), "completion": _price(p_out), "input_cache_read": _price(p_in)},
            "input_modalities": ["text", "image"] if "vision" in flags else ["text"], "output_modalities": ["text"],
            "supported_sampling_parameters": list(PARAMS), "openrouter": {"slug": f"cerebras/{model}"}}


def huggingface_model(model: str) -> dict:
    """`GET /v1/models?format=huggingface` (the SDK's `HuggingFaceModel`: prices per million tokens)."""
    _, _, created, p_in, p_out, ctx, _, hf, flags = _info(model)
    return {"id": model, "object": "model", "created": created, "owned_by": "cerebras", "context_length": ctx,
            "hugging_face_id": hf, "pricing": {"input": p_in, "output": p_out},
            "capabilities": {"function_calling": True, "streaming": True, "structured_outputs": True,
                             "vision": "vision" in flags}}


FORMATS = {"default": model_object, "openrouter": openrouter_model, "huggingface": huggingface_model}
