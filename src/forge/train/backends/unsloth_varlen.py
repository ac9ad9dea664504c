"""Packed attention on torch's own flash varlen kernel where Unsloth would loop per segment (torch).

Why: with packing (padding-free), every micro-batch is one row of ~30k tokens made of ~30 examples.
Unsloth keeps examples apart either with torch's varlen flash kernel (one call per layer) or, where
it finds none, with one SDPA call per example per layer. It takes `torch.nn.attention.varlen` only
when that function has both `window_size` (torch 2.11) and `enable_gqa` (2.12). On torch 2.11 (the
lent H100's image) the second is missing, so every GQA model (Llama 3, Gemma 3, Qwen) falls back to
the per-segment loop, thousands of small kernels per step.

Unsloth's own fast path for varlen (`_LeanFlashVarlen`) calls `aten._flash_attention_forward` /
`_backward` directly, and those take fewer key/value heads than query heads as they are: the
missing keyword is only needed by the public wrapper. So on such a torch, forge hands Unsloth an
adapter for the wrapper (expanding K/V when it is called with enable_gqa) and turns the lean path
on. The attention computed is the same causal attention inside each example; the benchmark's loss
parity check (bench/arm.py) compares it with the unpacked padded path.

FORGE_TORCH_VARLEN=0 leaves Unsloth as it is.
"""

from __future__ import annotations

import inspect
import os


def enable_torch_varlen() -> str | None:
    """Give Unsloth a GQA-capable varlen kernel if it found none; returns a note, or None if nothing changed."""
    if os.environ.get("FORGE_TORCH_VARLEN", "1").lower() in ("0", "false", "no", "off"):
        return None
    try:
        import torch
        from unsloth.utils import attention_dispatch as ad
    except Exception:
        return None
    if getattr(ad, "_TORCH_VARLEN_ATTN", "missing") is not None:
        return None  # Unsloth has varlen already (torch >= 2.12), or its layout changed: leave it
    if not torch.cuda.is_available() or torch.version.hip is not None:
        return None
    if not getattr(torch.backends.cuda, "is_flash_attention_available", lambda: False)():
        return None
    if not hasattr(torch.ops.aten, "_flash_attention_forward") or not hasattr(ad, "_LeanFlashVarlen"):
        return None
    try:
        from torch.nn.attention.varlen import varlen_attn
    except Exception:
        return None
    params = inspect.signature(varlen_attn).parameters
    if "window_size" not in params:
        return None  # torch 2.10 and older: no windowed varlen to adapt

    def varlen_attn_gqa(q, k, v, cu_q, cu_k, max_q, max_k, *, scale=None, window_size=(-1, -1), enable_gqa=False):
        if enable_gqa and k.shape[-2] != q.shape[-2]:
            groups = q.shape[-2] // k.shape[-2]
            k = k.repeat_interleave(groups, dim=-2)
            v = v.repeat_interleave(groups, dim=-2)
        return varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, scale=scale, window_size=window_size)

    ad._TORCH_VARLEN_ATTN = varlen_attn_gqa
    # The lean path: aten's flash kernels straight, GQA native. cuDNN varlen is not in torch 2.11.
    if not hasattr(ad, "_varlen_can_use_cudnn"):
        ad._varlen_can_use_cudnn = lambda *a, **k: False
    ad._LEAN_VARLEN = True
    return (
        f"packed attention: torch {torch.__version__.split('+')[0]}'s flash varlen kernel "
        "(Unsloth would run one SDPA call per example; FORGE_TORCH_VARLEN=0 restores that)"
    )
