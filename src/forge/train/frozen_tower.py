"""A frozen vision tower runs without autograd.

transformers' `enable_input_require_grads` (which PEFT, TRL and Unsloth call for LoRA) hooks the
input embeddings of every sub-model, the vision tower's patch embedding included: the tower's
output then requires grad, so its forward keeps every layer's activations and the backward runs
through all of it, for gradients nothing uses when no adapter sits in the tower or the projector.
On an H100 (2026-12-07, docs/benchmarks.md) the Gemma 3 4B-it layout with 8 pictures a micro-batch
peaked at 35.1 GB against the plan's 22.6 GB for that reason.

With lora.finetune_vision_layers false (every parameter of the tower and the projector frozen), the
tower and the projector run under torch.no_grad: the image features enter the language model as
constants, which is what they are to the adapters. With any trainable parameter among them, all
are left as they are.
"""

from __future__ import annotations

import functools
from typing import Any

# the sub-modules that turn pixels into the language model's image features (Gemma 3, LLaVA-style
# models, Qwen-VL's `visual`): lora_targets.VISION_PARTS names their inner parts too
TOWERS = ("vision_tower", "vision_model", "multi_modal_projector", "visual")


def run_frozen_towers_without_grad(model: Any) -> list[str]:
    """Wrap the forward of each tower of `model` in torch.no_grad when all of them are frozen;
    return their paths. One trainable part anywhere on the way from the pixels (an adapter in the
    tower) keeps every part in the graph: the projector after it must pass its gradients back."""
    import torch

    towers: list[tuple[str, Any]] = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in TOWERS and not any(name.startswith(t + ".") for t, _ in towers):
            towers.append((name, module))
    if any(p.requires_grad for _, module in towers for p in module.parameters()):
        return []
    wrapped: list[str] = []
    for name, module in towers:
        if getattr(module, "_forge_no_grad", False):
            continue
        module.forward = _without_grad(module.forward, torch)
        module._forge_no_grad = True
        wrapped.append(name)
    return wrapped


def _without_grad(forward, torch):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        with torch.no_grad():
            return forward(*args, **kwargs)

    return run


def note(wrapped: list[str]) -> str | None:
    if not wrapped:
        return None
    return (
        f"frozen vision tower: {', '.join(n.rsplit('.', 1)[-1] for n in wrapped)} run without autograd "
        "(no adapter there: its activations are not kept and no backward runs through it)"
    )
