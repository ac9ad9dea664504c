"""The seed's VRAM tiers as `forge plan` sees them, without a GPU (issue 32):

    python -m bench.tiers [--out FILE]

For each row of the seed's table (8 GB: Gemma 3 4B-it; 12-16 GB: 4B-it; 16-24 GB: 12B-it; 24 GB+:
27B-it, at 24 and 48 GB), the resolver plans the bench's chat data on an H100-class card capped at
that size (the cap the plan reads from torch's per-process memory fraction), with the model's
published shape from forge's table. It prints whether the plan fits or refuses (with its fix), the
settings, and the memory estimate. The GPU half (train and measure) is tests/gpu/plan_vs_peak.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

TIERS = [
    ("unsloth/gemma-3-4b-it", 8),
    ("unsloth/gemma-3-4b-it", 12),
    ("unsloth/gemma-3-4b-it", 16),
    ("unsloth/gemma-3-12b-it", 24),
    ("unsloth/gemma-3-27b-it", 24),
    ("unsloth/gemma-3-27b-it", 48),
]
KEYS = ("model.load_in_4bit", "model.max_seq_length", "lora.r", "lora.use_gradient_checkpointing",
        "training.per_device_train_batch_size", "training.gradient_accumulation_steps", "training.packing")  # fmt: skip


def plan_on(model: str, card_gb: float, train_file: Path):
    """The resolver's Plan for `model` on an H100-class card capped at card_gb, with this data."""
    from forge.config import validate_dict
    from forge.data import load_conversations
    from forge.models.facts import read_facts
    from forge.plan.hardware import GPUInfo, HardwareInfo
    from forge.plan.measure import stats_for
    from forge.plan.resolve import resolve

    hw = HardwareInfo(torch_version="2.11.0", cuda_version="13.0", ram_gb=128, unsloth=True,
                      gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 79.2, "9.0", True, limit_gb=card_gb)])  # fmt: skip
    cfg = validate_dict({"model": {"name": model}, "dataset": {"chat_template": "gemma-3"}})
    facts = read_facts(model)
    stats = stats_for(load_conversations(train_file), cfg, facts)
    return resolve(cfg, stats, hw, explicit={"model.name", "dataset.chat_template"}, facts=facts)


def plan_row(model: str, card_gb: float, train_file: Path) -> dict:
    p = plan_on(model, card_gb, train_file)
    mem = p.memory.to_dict() if p.memory else None
    # offline, every hub name is also "not found": that refusal is this machine's, not the tier's
    refusals = [r for r in p.refusals if r.kind != "model"]
    return {
        "model": model,
        "card_gb": card_gb,
        "fits": not refusals,
        "refusals": [{"key": r.key, "message": r.message, "fix": r.fix} for r in refusals],
        "settings": {k: p.settings[k].value for k in KEYS if k in p.settings},
        "estimate_torch_peak_gb": mem and mem.get("torch_peak_gb"),
        "estimate_total_gb": mem and mem.get("total_gb"),
        "memory": mem,
    }


def main(argv=None) -> int:
    from bench.common import make_chat, write_jsonl

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        data = write_jsonl(Path(d) / "train.jsonl", make_chat(600)) or Path(d) / "train.jsonl"
        rows = [plan_row(m, gb, data) for m, gb in TIERS]
    for r in rows:
        why = "" if r["fits"] else " refused: " + "; ".join(x["message"] for x in r["refusals"])
        print(f"{r['model']} @ {r['card_gb']} GB: estimate {r['estimate_torch_peak_gb']} GB {r['settings']}{why}")
    if a.out:
        Path(a.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
