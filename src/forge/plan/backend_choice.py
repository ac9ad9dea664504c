"""Which training backend a run gets here, and why a requested one cannot run (torch only inside cuda_available).

One rule for the resolver (so `forge check` and `forge plan` say what `forge train` will do) and for
`forge.train.backends.select_backend` (which applies it at run time): "auto" is Unsloth where
Unsloth is installed and a CUDA GPU is visible, transformers+PEFT+TRL elsewhere; "unsloth" asked for
where it cannot run is refused with the fix.
"""

from __future__ import annotations

import importlib.util

BACKENDS = ("auto", "unsloth", "hf")
UNSLOTH_FIX = "use --backend hf (transformers+PEFT+TRL), or run on a machine with an NVIDIA GPU and Unsloth installed"


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def unsloth_reason(has_gpu: bool, installed: bool | None = None) -> str | None:
    """Why Unsloth cannot run here, or None. `installed` None: look it up. No GPU comes first:
    installing Unsloth would not help there."""
    if not has_gpu:
        return "Unsloth needs an NVIDIA GPU with CUDA and none is visible"
    if not (unsloth_installed() if installed is None else installed):
        return "Unsloth is not installed (pip install 'factory-forge[unsloth]')"
    return None


def cuda_available() -> bool:
    """A CUDA GPU is visible to torch in this process (torch imported here, at call time)."""
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def unsloth_reason_here() -> str | None:
    """Why Unsloth cannot run in this process, or None: the one question select_backend, the
    Unsloth backend and the fsdp strategy ask (each looks it up at call time, so tests can set it)."""
    return unsloth_reason(cuda_available())


def choose(requested: str, reason: str | None) -> tuple[str, str | None]:
    """(backend, refusal message or None) for the requested backend, where `reason` is why Unsloth
    cannot run on this machine (unsloth_reason) or None."""
    if requested == "unsloth":
        return "unsloth", f"--backend unsloth cannot run here: {reason}" if reason else None
    if requested == "hf":
        return "hf", None
    return ("unsloth" if reason is None else "hf"), None


def packing_off_reason(backend: str, has_gpu: bool, images: bool = False) -> str | None:
    """Why `forge train` would turn training.packing off on this backend and machine, or None where
    it packs: the hf backend keeps packed examples apart only through FlashAttention on CUDA
    (forge.train.backends.hf applies the same rule at run time); Unsloth packs without it. Data with
    images is never packed (TRL refuses it: an image's tokens and pixels belong to one row)."""
    if images:
        return "the data holds images: training pads each batch instead of packing (TRL packs no image examples)"
    if backend == "unsloth" or (has_gpu and importlib.util.find_spec("flash_attn") is not None):
        return None
    where = "the flash_attn package" if has_gpu else "a CUDA GPU"
    return (
        f"the hf backend packs only with FlashAttention on a CUDA GPU (this machine lacks {where}): "
        "training turns packing off and pads each batch instead"
    )
