"""Build flex attention's block masks without torch.compile, where the dense mask fits (torch).

Why: transformers builds every flex mask with `create_block_mask(..., _compile=True)`, i.e. through
Inductor. On the lent H200 (torch 2.11, Unsloth 2026.10.9, 2026-12-01; docs/gpu-validation.md) the
Gemma 3 4B-it shape spent minutes there before its first step: the mask graph of the multimodal
wrapper (packed documents, sliding window, image tokens) fuses into Triton kernels that sort the KV
blocks, and LLVM / ptxas took 90 to 270 s per kernel, once per new graph (eval, train, each length
that recompiles). Built eagerly the same masks took 0.17 s the first time and about 6 ms after that
(`bench/probes/flex_mask.py`, 9,216 packed tokens), at the cost of one dense Q x KV pass (0.85 GB
transient at that length, freed when the BlockMask is made).

So forge asks for the eager build whenever that transient fits comfortably in free memory, and
keeps transformers' compiled build otherwise (very long packed rows, where Q x KV would not fit).
The BlockMask is the same either way: only how it is computed changes. `FORGE_FLEX_MASK=compiled`
keeps transformers' path everywhere.
"""

from __future__ import annotations

import os

from forge.plan import hardware

# bytes of the eager build per (batch, q, kv) element: the boolean mask plus the index and sort
# intermediates of torch's dense-to-block conversion (0.85 GB measured for 9,216^2 on the H200)
EAGER_BYTES_PER_ELEMENT = 10
# never more than this share of the free device memory for one mask build
FREE_MEMORY_SHARE = 0.25
_FLAG = "_forge_eager_flex_mask"


def eager_fits(batch: int | None, q_len: int, kv_len: int, free_bytes: int | None) -> bool:
    """Whether the dense pass of an eager build fits in FREE_MEMORY_SHARE of free memory."""
    need = max(batch or 1, 1) * q_len * kv_len * EAGER_BYTES_PER_ELEMENT
    if free_bytes is None:  # CPU tensors: host memory, the dense pass is small next to the model
        return need <= 2 * 1024**3
    return need <= FREE_MEMORY_SHARE * free_bytes


def build_flex_masks_eagerly() -> str:
    """Route transformers' block-mask builds through the eager path where it fits; the run's note.

    Returns "" when nothing was changed (asked off, no flex support, or already installed)."""
    if os.environ.get("FORGE_FLEX_MASK", "").strip().lower() == "compiled":
        return ""
    try:
        import torch
        from torch.nn.attention.flex_attention import create_block_mask as torch_create_block_mask
        from transformers import masking_utils
    except Exception:  # a torch without flex attention: transformers will not pick it either
        return ""
    compiled_builder = getattr(masking_utils, "create_block_mask", None)
    if compiled_builder is None or getattr(compiled_builder, _FLAG, False):
        return ""

    @torch.compiler.disable  # built outside any graph being traced, so nothing of it is compiled
    def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=None, **kwargs):
        if eager_fits(B, Q_LEN, KV_LEN, hardware.free_bytes(device)):
            kwargs["_compile"] = False
            return torch_create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=device, **kwargs)
        return compiled_builder(mask_mod, B, H, Q_LEN, KV_LEN, device=device, **kwargs)

    setattr(create_block_mask, _FLAG, True)
    masking_utils.create_block_mask = create_block_mask
    return (
        "flex masks: built eagerly where the dense Q x KV pass fits in a quarter of free memory "
        "(transformers compiles them, which took minutes per graph for Gemma 3 on torch 2.11); "
        "FORGE_FLEX_MASK=compiled keeps the compiled build"
    )
