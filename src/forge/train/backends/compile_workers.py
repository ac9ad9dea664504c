"""Keep Inductor's parallel compile workers when Unsloth would drop them to one.

Unsloth 2026.10.9 (`unsloth/_gpu_init.py`) forces `TORCHINDUCTOR_COMPILE_THREADS=1` whenever
`NVIDIA_VISIBLE_DEVICES` names particular GPUs (as `docker --gpus device=...` and Kubernetes set it)
and `CUDA_VISIBLE_DEVICES` is unset: in such containers its compile workers once failed to find the
pinned GPU. With one worker, every Triton kernel of a compiled model is built one after another in
the training process; for Gemma 3's flex-attention kernels that is minutes before the first step.

Inside such a container the pinned GPUs are numbered from 0, so naming them all in
`CUDA_VISIBLE_DEVICES` changes nothing a CUDA program sees, and it is the case Unsloth leaves alone.
forge does that only where the user set neither variable nor a thread count of their own, and only
where the process sees exactly as many GPUs as are pinned: outside a container the variable means
nothing, and naming fewer GPUs there would hide the others. The change is said in the run's notes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping

_UNPINNED = ("", "all", "none", "void")


def pinned_gpu_count(environ: MutableMapping[str, str]) -> int:
    """How many GPUs NVIDIA_VISIBLE_DEVICES pins (0 where it pins none: unset, all, none, void)."""
    value = environ.get("NVIDIA_VISIBLE_DEVICES", "").strip()
    if value.lower() in _UNPINNED:
        return 0
    return len([part for part in value.split(",") if part.strip()])


def _visible_gpus() -> int:
    """The GPUs CUDA shows this process (torch counts them through NVML, creating no context)."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001  no torch or no driver: nothing to keep parallel
        return -1


def keep_parallel_compile(
    environ: MutableMapping[str, str] | None = None, visible_gpus: Callable[[], int] = _visible_gpus
) -> str:
    """Set CUDA_VISIBLE_DEVICES to the pinned GPUs' container numbers before Unsloth is imported.

    Returns the note for the run log, or "" where nothing was changed. `FORGE_COMPILE_WORKERS=1`
    keeps Unsloth's single worker (the escape hatch if parallel workers fail on some host), and a
    user's own CUDA_VISIBLE_DEVICES, TORCHINDUCTOR_COMPILE_THREADS or
    UNSLOTH_FORCE_SINGLE_COMPILE_WORKER always wins.
    """
    env = os.environ if environ is None else environ
    if env.get("FORGE_COMPILE_WORKERS", "").strip() == "1":
        return ""
    if "CUDA_VISIBLE_DEVICES" in env or env.get("TORCHINDUCTOR_COMPILE_THREADS", "").strip():
        return ""
    if "UNSLOTH_FORCE_SINGLE_COMPILE_WORKER" in env:
        return ""
    count = pinned_gpu_count(env)
    if not count or visible_gpus() != count:
        return ""
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(count))
    return (
        f"compile: NVIDIA_VISIBLE_DEVICES pins {count} GPU(s) and CUDA_VISIBLE_DEVICES was unset, "
        f"which makes Unsloth compile with one worker; set CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} "
        "(the same GPUs) so Inductor keeps its parallel workers (FORGE_COMPILE_WORKERS=1 keeps one)"
    )
