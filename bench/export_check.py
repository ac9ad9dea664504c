"""After an arm trained: its adapter, saved as forge saves it, merges into the bf16 base (torch).

What it checks, for an FP8 run above all: the adapter names the bf16 base folder (not Unsloth's
private FP8 copy), forge.export's loader applies it to that base, and the merged bf16 model's
logits equal the unmerged adapter-on-base logits (merging is exact up to bf16 rounding).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def export_check(backend, model, tokenizer, folder: Path) -> dict:
    import torch

    from forge.export.merge import load_base_with_adapter

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    backend.save_adapter(model, tokenizer, folder)
    base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    out = {"adapter_base": base, "config_base": backend.cfg.model.name}
    out["base_is_bf16_folder"] = Path(base).resolve() == Path(backend.cfg.model.name).resolve()
    del model
    torch.cuda.empty_cache()
    peft_model, _ = load_base_with_adapter(base, folder, device="cuda", dtype=torch.bfloat16)
    ids = torch.randint(20, 4000, (2, 256), device="cuda")
    with torch.no_grad():
        unmerged = peft_model(input_ids=ids).logits.float()
        merged = peft_model.merge_and_unload()(input_ids=ids).logits.float()
    out["merge_rel_diff"] = float((merged - unmerged).norm() / unmerged.norm())
    out["ok"] = bool(out["base_is_bf16_folder"] and out["merge_rel_diff"] < 2e-2)
    return out
