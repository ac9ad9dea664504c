"""The precision a model is loaded in for baseline and evaluate, told beforehand (torch-free).

load_model_and_tokenizer (forge.models.loader) loads by these rules; `forge check` asks them what
the weights would load in on the probed machine, to compare with the precision a baseline was
scored in (forge.evaluate.baseline.baseline_refusal), without loading anything.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any


def load_dtype_name(model_cfg: Any, *, cuda: bool, bf16: bool | None) -> str | None:
    """The dtype `model_cfg` loads in, unless the caller names one: model.dtype, else float32 on
    the CPU and bfloat16 on a CUDA device that supports it (`bf16`), float16 on one that does not;
    None when `bf16` is None (not known) on CUDA."""
    if model_cfg.dtype:
        return model_cfg.dtype
    if not cuda:
        return "float32"
    if bf16 is None:
        return None
    return "bfloat16" if bf16 else "float16"


def loads_in_4bit(model_cfg: Any, *, cuda: bool) -> bool:
    """model.load_in_4bit takes effect only on CUDA with bitsandbytes installed."""
    return bool(getattr(model_cfg, "load_in_4bit", False)) and cuda and find_spec("bitsandbytes") is not None


def load_precision(model_cfg: Any, *, cuda: bool, bf16: bool | None) -> str | None:
    """What forge.evaluate.baseline.loaded_precision will read off the loaded model ("float32",
    "bfloat16", "nf4/bfloat16"); None when it cannot be known beforehand (see load_dtype_name)."""
    dtype = load_dtype_name(model_cfg, cuda=cuda, bf16=bf16)
    if dtype is None:
        return None
    return f"nf4/{dtype}" if loads_in_4bit(model_cfg, cuda=cuda) else dtype
