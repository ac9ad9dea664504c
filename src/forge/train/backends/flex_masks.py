"""Build flex attention's block masks without torch.compile, where the dense mask fits (torch).

Why: transformers builds every flex mask with `create_block_mask(..., _compile=True)`, i.e. through
Inductor. On the lent H200 (torch 2.11, Unsloth 2026.10.9, 2026-12-01; docs/gpu-validation.md) the
Gemma 3 4B-it shape spent minutes there before its first step: the mask graph of the multimodal
wrapper (packed documents, sliding window, image tokens) fuses into Triton kernels that sort the KV
blocks, and LLVM / ptxas took 90 to 270 s per kernel, once per new graph (eval, train, each length
that recompiles). Built eagerly the same masks took 0.17 s the first time and about 6 ms after that
(`bench/probes/flex_mask.py`, 9,216 packed tokens), at the cost of one dense Q x KV pass (0.85 GB
transient at that length, freed when the BlockMask is made).

So forge builds every mask eagerly, in slabs of query rows where the whole dense pass would not fit
its budget: each slab's dense rows become block rows, and the blocks are joined into the same
BlockMask. The budget is the smaller of SLAB_BYTES and a quarter of what the process may still
allocate (forge.plan.hardware.free_bytes, which honours an emulated card's cap). Before the slabs
(2026-12-07, H200, 4B-it at an emulated 16 GB), a 29,952-token packed micro-batch either built its
mask in one dense pass of about 9 GB, which set the run's peak 15% over the plan's estimate, or (on
a real card, where that does not fit) went back to the compiled build and its minutes of Inductor.
transformers' compiled build stays only where even one slab of 128 rows would not fit, or where
torch's block-mask internals are not what this code reads. The BlockMask is the same either way:
only how it is computed changes. `FORGE_FLEX_MASK=compiled` keeps transformers' path everywhere.
"""

from __future__ import annotations

import os
import warnings

from forge.plan import hardware

# bytes of the eager build per (batch, q, kv) element: the boolean mask plus the index and sort
# intermediates of torch's dense-to-block conversion (0.85 GB measured for 9,216^2 on the H200)
EAGER_BYTES_PER_ELEMENT = 10
# never more than this share of the free device memory for one mask build
FREE_MEMORY_SHARE = 0.25
# nor more than this at once: the plan's estimate has no term for the mask, so it must stay small
# next to the activations (it is built before any layer runs, when they are not yet there)
SLAB_BYTES = 1024**3
_FLAG = "_forge_eager_flex_mask"
_FELL_BACK: list = []  # the first slab failure, warned about once


def slab_rows(batch: int | None, heads: int | None, q_len: int, kv_len: int, free: int | None, q_block: int) -> int:
    """Query rows per slab of the eager build: q_len when one dense pass fits the budget, else a
    multiple of q_block, and 0 when not even q_block rows fit. free: what the process may still
    allocate on the device (None: host memory)."""
    per_row = max(batch or 1, 1) * max(heads or 1, 1) * kv_len * EAGER_BYTES_PER_ELEMENT
    budget = SLAB_BYTES if free is None else min(SLAB_BYTES, FREE_MEMORY_SHARE * free)
    if per_row * q_len <= budget:
        return q_len
    return int(budget // per_row) // q_block * q_block


def block_mask_in_slabs(mask_mod, B, H, Q_LEN, KV_LEN, device, rows, BLOCK_SIZE=128, separate_full_blocks=True):
    """torch's eager create_block_mask, its dense pass taken `rows` query rows at a time: each slab
    becomes whole block rows (rows is a multiple of the block), joined before the BlockMask is made."""
    import torch
    from torch.nn.attention import flex_attention as fa

    q_block, kv_block = (BLOCK_SIZE, BLOCK_SIZE) if isinstance(BLOCK_SIZE, int) else BLOCK_SIZE
    partial, full = [], []
    for q0 in range(0, Q_LEN, rows):

        def shifted(b, h, q, kv, q0=q0):
            return mask_mod(b, h, q + q0, kv)

        dense = fa.create_mask(shifted, B, H, min(rows, Q_LEN - q0), KV_LEN, device)
        # by keyword: torch has had these two sizes in either order
        p, f = fa._convert_mask_to_block_mask(
            dense, Q_BLOCK_SIZE=q_block, KV_BLOCK_SIZE=kv_block, separate_full_blocks=separate_full_blocks
        )
        del dense
        partial.append(p)
        full.append(f)
    joined = (torch.cat(partial, dim=-2), torch.cat(full, dim=-2) if separate_full_blocks else None)
    return fa._create_sparse_block_from_block_mask(
        joined, mask_mod, seq_lengths=(Q_LEN, KV_LEN), Q_BLOCK_SIZE=q_block, KV_BLOCK_SIZE=kv_block
    )


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
        size = kwargs.get("BLOCK_SIZE", 128)
        rows = slab_rows(B, H, Q_LEN, KV_LEN, hardware.free_bytes(device), size if isinstance(size, int) else size[0])
        if rows >= Q_LEN:
            eager = {**kwargs, "_compile": False}
            return torch_create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=device, **eager)
        if rows and not set(kwargs) - {"_compile", "BLOCK_SIZE", "separate_full_blocks"}:
            full = kwargs.get("separate_full_blocks", True)
            try:
                return block_mask_in_slabs(mask_mod, B, H, Q_LEN, KV_LEN, device, rows, size, full)
            except (AttributeError, TypeError, RuntimeError) as e:
                # torch's private block-mask helpers moved, or a mask function the slabs cannot
                # take: transformers' compiled build still makes the same mask, only slower
                if not _FELL_BACK:
                    _FELL_BACK.append(e)
                    warnings.warn(
                        f"flex masks: slab build failed ({type(e).__name__}: {e}); compiling instead", stacklevel=2
                    )
        return compiled_builder(mask_mod, B, H, Q_LEN, KV_LEN, device=device, **kwargs)

    setattr(create_block_mask, _FLAG, True)
    masking_utils.create_block_mask = create_block_mask
    return (
        "flex masks: built eagerly, the dense Q x KV pass in slabs of at most 1 GB and a quarter of free "
        "memory (transformers compiles them, which took minutes per graph for Gemma 3 on torch 2.11); "
        "FORGE_FLEX_MASK=compiled keeps the compiled build"
    )
