"""The plan packs only where `forge train` packs, and check says when train will turn packing off.

QA: on a GPU without Unsloth (the hf backend) and without flash_attn, `forge plan` chose packing
and sized micro-batches and steps for packed rows; `forge train` then turned packing off ("packing
is off: ... only with FlashAttention") and trained unpacked rows. On the CPU, `training.packing: true`
passed check without a word and was turned off in train's log only.
"""

from __future__ import annotations

import importlib.util
import math

import pytest

from forge.config import validate_dict
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.resolve import resolve
from forge.plan.stats import DataStats

CPU = HardwareInfo(torch_version="2.x", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
STATS = DataStats(320, 24, [126] * 320, "tokenizer of builtin:tiny-llama")


def _gpu(unsloth: bool) -> HardwareInfo:
    card = GPUInfo(name="NVIDIA H100 80GB HBM3", vram_gb=80.0, capability="9.0", bf16=True, free_gb=80.0)
    return HardwareInfo(torch_version="2.x", cuda_version="12.8", gpus=[card], unsloth=unsloth)


def test_unsloth_packs():
    p = resolve(validate_dict({}), STATS, _gpu(True), explicit=set())
    assert p.backend == "unsloth" and p.value("training.packing") is True


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is not None, reason="flash_attn packs on hf")
def test_hf_without_flash_attention_does_not_plan_packing():
    p = resolve(validate_dict({}), STATS, _gpu(False), explicit=set())
    assert p.backend == "hf" and p.value("training.packing") is False
    assert "FlashAttention" in p.settings["training.packing"].reason
    # steps of unpacked micro-batches, as the Trainer counts them
    batch, accum = p.value("training.per_device_train_batch_size"), p.value("training.gradient_accumulation_steps")
    assert p.steps_per_epoch == math.ceil(math.ceil(320 / batch) / accum)


def test_check_warns_that_train_turns_packing_off_on_a_cpu():
    cfg = validate_dict({"model": {"name": "builtin:tiny-llama"}, "training": {"packing": True}})
    p = resolve(cfg, STATS, CPU, as_configured=True)
    (w,) = [w for w in p.warnings if w.kind == "packing"]
    assert "training turns packing off" in w.message and w.fix == "set training.packing to false"
    assert p.ready
