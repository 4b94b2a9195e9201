"""The fake server's model catalogue (cerebras-api.md §7). Error bodies and request checks are the wire
facts every backend shares: cerebras_magic/_wire.py."""
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
