"""The original VRAM table and rough model sizes (pure; used by check and plan)."""

from __future__ import annotations

import re
from dataclasses import dataclass

BUILTIN_PARAMS_B = {
    "builtin:tiny-llama": 0.001,
    "builtin:tiny-gemma3": 0.001,
    "builtin:gemma-3-270m": 0.27,
}


@dataclass(frozen=True)
class TableRow:
    min_vram_gb: float
    model: str
    r: int
    batch: int
    accumulation: int


# The original table: (8 GB: gemma-3-4b-it, batch 1 x accumulation 8; 12-16 GB: gemma-3-4b-it;
# 16-24 GB: gemma-3-12b-it, r=16; 24 GB+: gemma-3-27b-it, r=32). Read from the top: first row whose
# minimum the card reaches. Cards report a little less than their nominal size (an "80 GB" H100
# shows 79.1 GiB, a "24 GB" card 23.6), hence the slack below the nominal boundaries.
VRAM_TABLE = (
    TableRow(23.0, "unsloth/gemma-3-27b-it", 32, 2, 4),
    TableRow(15.5, "unsloth/gemma-3-12b-it", 16, 2, 4),
    TableRow(11.0, "unsloth/gemma-3-4b-it", 8, 2, 4),
    TableRow(7.0, "unsloth/gemma-3-4b-it", 8, 1, 8),
)


def table_row(vram_gb: float) -> TableRow | None:
    for row in VRAM_TABLE:
        if vram_gb >= row.min_vram_gb:
            return row
    return None


def params_billion(model_name: str) -> float | None:
    """Parameter count in billions read from a name like 'gemma-3-12b-it' or 'Qwen2.5-0.5B'."""
    if model_name in BUILTIN_PARAMS_B:
        return BUILTIN_PARAMS_B[model_name]
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", model_name.split("/")[-1])
    if not m:
        return None
    value = float(m.group(1))
    return value / 1000 if m.group(2).lower() == "m" else value


def min_vram_gb(model_name: str, load_in_4bit: bool) -> float | None:
    """A floor for LoRA training memory: weights plus a fixed allowance for activations and LoRA.

    Deliberately simple; `forge plan` holds the full estimate.
    """
    p = params_billion(model_name)
    if p is None:
        return None
    weights = p * (0.6 if load_in_4bit else 2.0)
    return round(weights * 1.2 + 1.5, 1)
