"""forge plan recommends --strategy fsdp when the model does not fit one card of several (torch-free)."""

from __future__ import annotations

import random

from forge.config import validate_dict
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.resolve import DataStats, plan


def stats(n: int, seed: int = 0) -> DataStats:
    rng = random.Random(seed)
    return DataStats(n, max(1, n // 20), [int(rng.lognormvariate(6.7, 0.5)) + 20 for _ in range(n)])


def _hw(n: int, vram: float) -> HardwareInfo:
    gpus = [GPUInfo("NVIDIA GeForce RTX 4090", vram, "8.9", True) for _ in range(n)]
    return HardwareInfo(torch_version="2.x", cuda_version="13.0", gpus=gpus)


def test_a_model_too_big_for_one_of_two_cards_gets_fsdp_recommended():
    cfg = validate_dict({"model": {"name": "unsloth/gemma-3-27b-it", "load_in_4bit": False}})
    explicit = {"model.name", "model.load_in_4bit"}
    two = plan(cfg, stats(2000), _hw(2, 23.6), explicit=explicit)
    assert any("--gpus 2 --strategy fsdp" in n for n in two.notes), two.notes
    one = plan(cfg, stats(2000), _hw(1, 23.6), explicit=explicit)
    assert not any("--strategy fsdp" in n for n in one.notes)  # one card: nothing to shard over
