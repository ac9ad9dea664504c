"""Base + LoRA adapter -> merged 16-bit model (torch, imported inside functions).

The merge runs in float32 (on the GPU when it fits there, else on CPU), so merging adds no rounding
of its own; the merged weights are rounded once, to the saved dtype. The same model objects give
the reference logits the verification compares against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from forge.errors import ForgeError
from forge.models.adapter_base import read_adapter_config as adapter_info  # noqa: F401 (export's name)
from forge.models.facts import stored_dtype

SIXTEEN_BIT = ("bfloat16", "float16")


def save_dtype_name(base_path: str, configured: str | None) -> str:
    """The dtype of the merged model: the config's 16-bit dtype, else the base's, else bfloat16."""
    if configured in SIXTEEN_BIT:
        return configured
    base = stored_dtype(base_path)  # None when config.json is missing or unreadable
    return base if base in SIXTEEN_BIT else "bfloat16"


def load_base_with_adapter(base_path: str, lora_dir: Path, *, device: str, dtype: Any):
    """(PeftModel, tokenizer): the base in `dtype`, the adapter on top, unmerged."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok_dir = lora_dir if (lora_dir / "tokenizer_config.json").is_file() else Path(base_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    base.to(device)
    try:
        model = PeftModel.from_pretrained(base, str(lora_dir), is_trainable=False)
    except Exception as e:
        raise ForgeError(
            f"the adapter in {lora_dir} cannot be applied to {base_path}: {type(e).__name__}: {str(e)[:400]}",
            fix="the adapter file is damaged or belongs to another base model: re-run `forge train`",
            kind="adapter_corrupt",
        ) from e
    model.eval()
    return model, tokenizer


def adapter_load_check(model, lora_dir: Path) -> dict[str, Any]:
    """Every tensor of adapter_model.safetensors is in the model, with the same values."""
    import torch
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file

    try:
        saved = load_file(str(lora_dir / "adapter_model.safetensors"))
    except Exception as e:
        raise ForgeError(
            f"{lora_dir / 'adapter_model.safetensors'} cannot be read: {e}",
            fix="the file is truncated or damaged: re-run `forge train`",
            kind="adapter_corrupt",
        ) from e
    loaded = get_peft_model_state_dict(model)
    missing = sorted(k for k in saved if k not in loaded)
    differ = [k for k in saved if k in loaded and not torch.equal(saved[k].to(loaded[k].dtype).cpu(), loaded[k].cpu())]
    non_finite = [k for k, v in saved.items() if not torch.isfinite(v.float()).all()]
    problems = []
    if missing:
        problems.append(f"{len(missing)} adapter tensors match no module of the base (e.g. {missing[0]})")
    if differ and len(differ) != len(saved):
        problems.append(f"{len(differ)} adapter tensors changed when loaded (e.g. {differ[0]})")
    if non_finite:
        problems.append(f"{len(non_finite)} adapter tensors hold NaN or infinite values (e.g. {non_finite[0]})")
    return {
        "name": "adapter loaded",
        "ok": not problems,
        "tensors": len(saved),
        "detail": "; ".join(problems) or f"all {len(saved)} adapter tensors applied",
    }


def merge(model):
    return model.merge_and_unload(safe_merge=False)


# Files of the base model folder that save_pretrained of the model and tokenizer does not write:
# the processor of a vision-language model (AutoProcessor, vLLM's multimodal serving) and the
# SentencePiece model that llama.cpp's converter reads for Gemma-style tokenizers.
BASE_FILES = ("preprocessor_config.json", "processor_config.json", "tokenizer.model")


def save(
    model,
    tokenizer,
    out_dir: Path,
    *,
    dtype_name: str,
    eos_ids: list[int],
    chat_template: str,
    base_path: str | Path | None = None,
) -> None:
    """save_pretrained as safetensors in `dtype_name`, with generation_config, the chat template and
    the base folder's processor / SentencePiece files."""
    import shutil

    import torch
    from transformers import GenerationConfig

    model.to(getattr(torch, dtype_name))
    gen = getattr(model, "generation_config", None) or GenerationConfig()
    old = gen.eos_token_id
    old = old if isinstance(old, list) else ([old] if old is not None else [])
    gen.eos_token_id = list(dict.fromkeys([*eos_ids, *old]))
    if gen.bos_token_id is None:
        gen.bos_token_id = tokenizer.bos_token_id
    if gen.pad_token_id is None and tokenizer.pad_token_id is not None:
        gen.pad_token_id = tokenizer.pad_token_id
    model.generation_config = gen
    model.config.dtype = getattr(torch, dtype_name)
    tokenizer.chat_template = chat_template
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    for name in BASE_FILES if base_path else ():
        src = Path(base_path) / name
        if src.is_file() and not (out_dir / name).exists():
            shutil.copyfile(src, out_dir / name)
    if (out_dir / "processor_config.json").is_file():
        _processor_template(out_dir, chat_template)


def _processor_template(out_dir: Path, chat_template: str) -> None:
    """A processor_config.json that carries its own chat_template must carry the exported one."""
    from forge.files import atomic_write_json

    path = out_dir / "processor_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if "chat_template" in data and data["chat_template"] != chat_template:
        data["chat_template"] = chat_template
        atomic_write_json(path, data)
