"""The original VRAM table (pure): which model the plan starts from for a card of a given size.

Sizes of models are not here: they come from the model's config.json (forge.models.facts), or from
the published shapes in forge.models.shape for a model not on disk; forge.plan.memory is the one
memory estimate.
"""

from __future__ import annotations

from dataclasses import dataclass


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
