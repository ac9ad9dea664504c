"""torch's peak GPU memory, read one way for the status, training-stats.json and the plan's
comparison. torch is only looked at where the run already loaded it (sys.modules): nothing here
imports it, so the CPU paths and the status readers stay light."""

from __future__ import annotations

import sys

GB = 1024**3


def peaks_gb() -> tuple[float, float] | None:
    """(allocated, reserved) peaks in GB of 2**30 since the last reset; None without CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / GB, 2), round(torch.cuda.max_memory_reserved() / GB, 2)


def split_load_peak() -> tuple[float, float] | None:
    """The peaks so far (the model's load, which can pass through a 16-bit copy of a layer), then a
    fresh peak for the steps, which the plan estimates. The cache the load grew is handed back
    first: the steps start from what they hold, and a small card's steps get the room the load's
    copies took."""
    peak = peaks_gb()
    if peak is not None:
        torch = sys.modules["torch"]
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return peak
