"""Which modules get a LoRA adapter: lora.target_modules under the lora.finetune_* switches (pure).

Both backends ask this one function, so the switches mean the same on either (and on every rank
of a data-parallel run: the answer depends only on the model's module names):

- finetune_vision_layers / finetune_language_layers: a module is in the vision part when a
  component of its path names the vision tower or the projector (vision_tower, vision_model,
  multi_modal_projector, visual, image, patch...), else in the language part. A text-only model
  has no vision part: finetune_vision_layers is ignored there (with a note), and
  finetune_language_layers=false leaves nothing to train (refused).
- finetune_attention_modules / finetune_mlp_modules: a module is attention when its path runs
  through an attention block (self_attn, attention, attn, cross_attn), MLP when through an MLP
  block (mlp, feed_forward, ffn); the leaf name must also be one of lora.target_modules.

Why a list of full module names for vision-language models: PEFT matches a plain leaf name such
as `q_proj` anywhere, and SigLIP's attention has q/k/v_proj too, which is how 12 of 68 adapter
tensors used to land in the vision tower with finetune_vision_layers false. For a text-only model
the leaf list is kept as it was (PEFT's and Unsloth's usual form; same modules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from forge.errors import EXIT_USAGE, ForgeError

VISION_PARTS = ("vision_tower", "vision_model", "multi_modal_projector", "visual", "vision", "image", "patch")
ATTENTION_PARTS = ("self_attn", "attention", "attn", "cross_attn")
MLP_PARTS = ("mlp", "feed_forward", "ffn")


@dataclass
class LoraTargets:
    """`spec` goes to PEFT / Unsloth as target_modules: a leaf list, or a regex of full names."""

    spec: list[str] | str
    names: list[str]  # the modules that get an adapter
    vision: int = 0  # of which in the vision part
    has_vision: bool = False
    notes: list[str] = field(default_factory=list)


def _parts(name: str) -> list[str]:
    return name.split(".")


def is_vision(name: str) -> bool:
    return any(p.startswith(VISION_PARTS) for p in _parts(name))


def _block(name: str) -> str | None:
    parents = _parts(name)[:-1]
    if any(p in ATTENTION_PARTS for p in parents):
        return "attention"
    if any(p in MLP_PARTS for p in parents):
        return "mlp"
    return None


def choose(linear_names: Iterable[str], lora) -> LoraTargets:
    """The modules among `linear_names` (the model's nn.Linear paths) that the config selects."""
    names = list(linear_names)
    has_vision = any(is_vision(n) for n in names)
    wanted = set(lora.target_modules)
    notes: list[str] = []
    if not has_vision:
        if not lora.finetune_language_layers:
            raise ForgeError(
                "lora.finetune_language_layers is false and this model has no vision tower: nothing to train",
                "set lora.finetune_language_layers to true",
                exit_code=EXIT_USAGE,
                kind="config",
            )
        if lora.finetune_vision_layers:
            notes.append("finetune_vision_layers is set but this model has no vision tower: ignored")
    elif not (lora.finetune_language_layers or lora.finetune_vision_layers):
        raise ForgeError(
            "lora.finetune_language_layers and lora.finetune_vision_layers are both false: nothing to train",
            "set lora.finetune_language_layers to true (the usual choice) or lora.finetune_vision_layers",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    chosen = []
    for n in names:
        if n.rsplit(".", 1)[-1] not in wanted:
            continue
        vision = is_vision(n)
        if vision and not lora.finetune_vision_layers or not vision and not lora.finetune_language_layers:
            continue
        block = _block(n)
        if block == "attention" and not lora.finetune_attention_modules:
            continue
        if block == "mlp" and not lora.finetune_mlp_modules:
            continue
        chosen.append(n)
    if not chosen:
        raise ForgeError(
            f"no LoRA target module left: lora.target_modules ({', '.join(lora.target_modules)}) under the "
            "finetune_vision/language/attention/mlp switches select no layer of this model",
            "turn finetune_attention_modules or finetune_mlp_modules on, or widen lora.target_modules "
            "to the model's linear layer names (e.g. q_proj, v_proj)",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    if has_vision:
        spec: list[str] | str = "(?:" + "|".join(re.escape(n) for n in chosen) + ")"
    else:
        leaves = {n.rsplit(".", 1)[-1] for n in chosen}
        spec = [t for t in lora.target_modules if t in leaves]
    return LoraTargets(spec, chosen, sum(is_vision(n) for n in chosen), has_vision, notes)


def for_model(model, lora) -> LoraTargets:
    """`choose` over a loaded model's nn.Linear modules (torch imported here only)."""
    import torch

    return choose((n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)), lora)
