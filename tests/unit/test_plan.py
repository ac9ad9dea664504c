"""forge plan as a pure function on literal hardware and data (no torch, no GPU)."""

from __future__ import annotations

import json
import random

import pytest

from forge.config import ForgeConfig, validate_dict
from forge.plan.eval_budget import cadence
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.memory import estimate_memory, shape_for
from forge.plan.resolve import DataStats, plan


def hw(vram: float | None, name: str = "NVIDIA H100 80GB HBM3") -> HardwareInfo:
    if vram is None:
        return HardwareInfo(torch_version="2.x", cpu_count=2, problem="no CUDA GPU visible")
    return HardwareInfo(torch_version="2.x", cuda_version="13.0", gpus=[GPUInfo(name, vram, "9.0", True)])


def stats(n: int, mean_log: float = 6.7, seed: int = 0) -> DataStats:
    rng = random.Random(seed)
    return DataStats(n, max(1, n // 20), [int(rng.lognormvariate(mean_log, 0.5)) + 20 for _ in range(n)])


@pytest.mark.parametrize(
    "vram,model",
    [
        (7.6, "unsloth/gemma-3-4b-it"),
        (11.6, "unsloth/gemma-3-4b-it"),
        (15.6, "unsloth/gemma-3-12b-it"),
        (23.6, "unsloth/gemma-3-27b-it"),
        (79.1, "unsloth/gemma-3-27b-it"),
    ],
)
def test_model_follows_the_vram_table_and_fits(vram, model):
    p = plan(ForgeConfig(), stats(2000), hw(vram), explicit=set())
    name = p.value("model.name")
    # the table's choice, or a step down the ladder when the estimate says it does not fit
    ladder = ["unsloth/gemma-3-27b-it", "unsloth/gemma-3-12b-it", "unsloth/gemma-3-4b-it", "unsloth/gemma-3-1b-it"]
    assert ladder.index(name) >= ladder.index(model)
    assert p.memory.total_gb <= vram, p.memory.to_dict()
    assert p.settings["model.name"].source == "plan"
    assert "VRAM table" in p.settings["model.name"].reason


def test_24gb_steps_down_when_27b_does_not_fit():
    p = plan(ForgeConfig(), stats(2000), hw(23.6), explicit=set())
    est27 = estimate_memory(
        shape_for("unsloth/gemma-3-27b-it"),
        tokens_per_micro_batch=4096,
        load_in_4bit=True,
        lora_r=16,
        targets=ForgeConfig().lora.target_modules,
        gradient_checkpointing="unsloth",
    )
    if est27.total_gb > 23.6 * 0.88:
        assert p.value("model.name") != "unsloth/gemma-3-27b-it"
        assert "steps down" in p.settings["model.name"].reason


def test_no_gpu_picks_the_cpu_model_without_packing():
    p = plan(ForgeConfig(), stats(300), hw(None), explicit=set())
    assert p.value("model.name") == "builtin:gemma-3-270m"
    assert p.value("training.packing") is False
    assert p.value("model.load_in_4bit") is False
    assert p.value("training.optim") == "adamw_torch"
    assert p.backend == "hf"


def test_explicit_values_are_kept_and_reported():
    cfg = validate_dict({"model": {"name": "unsloth/Llama-3.2-1B-Instruct"}, "training": {"learning_rate": 5e-5}})
    p = plan(cfg, stats(2000), hw(79.1))
    assert p.value("model.name") == "unsloth/Llama-3.2-1B-Instruct"
    assert p.settings["model.name"].source == "explicit"
    assert p.value("training.learning_rate") == 5e-5
    assert "kept" in p.settings["training.learning_rate"].reason
    assert "learning_rate" not in p.updates().get("training", {})
    assert p.updates()["training"]["per_device_train_batch_size"] >= 1


def test_1b_on_h100_packs_fills_and_drops_checkpointing():
    cfg = validate_dict({"model": {"name": "unsloth/Llama-3.2-1B-Instruct"}})
    p = plan(cfg, stats(20000), hw(79.1))
    assert p.value("training.packing") is True
    assert p.value("model.load_in_4bit") is False  # 16-bit weights are 2.3 GB of 79
    assert p.value("lora.use_gradient_checkpointing") is False
    assert p.tokens_per_micro_batch >= 16384
    assert p.memory.total_gb < 79.1 * 0.9
    # effective batch kept: accumulation x micro-batch reaches the target
    assert p.effective_batch_tokens >= p.tokens_per_micro_batch
    assert p.tokens_per_second and p.seconds


@pytest.mark.parametrize("vram", [7.6, 11.6, 15.6, 23.6, 79.1])
def test_micro_batch_grows_with_memory_and_estimate_fits(vram):
    cfg = validate_dict({"model": {"name": "unsloth/gemma-3-1b-it"}})
    p = plan(cfg, stats(20000), hw(vram))
    assert p.memory.total_gb <= vram * 0.9
    assert p.value("training.per_device_train_batch_size") >= 1


def test_micro_batch_monotonic_in_vram():
    cfg = validate_dict({"model": {"name": "unsloth/gemma-3-4b-it"}})
    plans = [plan(cfg, stats(20000), hw(v)) for v in (7.6, 11.6, 23.6)]
    toks = [p.tokens_per_micro_batch for p in plans]
    assert toks == sorted(toks)
    # with 80 GB the plan may trade micro-batch size for no recompute and 16-bit weights
    big = plan(cfg, stats(20000), hw(79.1))
    assert big.value("lora.use_gradient_checkpointing") is False
    assert big.value("model.load_in_4bit") is False


@pytest.mark.parametrize(
    "n,epochs,lr,r", [(150, 3, 2e-4, 8), (1200, 3, 2e-4, 16), (12000, 2, 1e-4, 16), (80000, 1, 1e-4, 32)]
)
def test_hyperparameters_by_dataset_size(n, epochs, lr, r):
    p = plan(ForgeConfig(), stats(n), hw(23.6), explicit=set())
    assert p.value("training.num_train_epochs") == epochs
    assert p.value("training.learning_rate") == lr
    assert p.value("lora.r") == r
    assert p.value("lora.lora_alpha") == 2 * r
    assert p.value("training.eval_steps") == cadence(p.total_steps)  # the one rule (train uses it too)
    assert p.value("training.save_steps") == p.value("training.eval_steps")
    assert p.value("training.warmup_steps") >= 5


def test_max_seq_length_from_p99_capped_by_model():
    short = DataStats(1000, 10, [300] * 990 + [900] * 10)
    p = plan(ForgeConfig(), short, hw(79.1), explicit=set())
    assert p.value("model.max_seq_length") == 512  # p99 = 300 -> 512 (rounded up to 256s)
    huge = DataStats(1000, 10, [50000] * 1000)
    p = plan(validate_dict({"model": {"name": "unsloth/gemma-3-270m-it"}}), huge, hw(79.1))
    assert p.value("model.max_seq_length") == 32768
    assert p.truncated_examples == 1000
    assert any("truncated" in n for n in p.notes)


def test_unknown_model_is_reported_not_guessed():
    cfg = validate_dict({"model": {"name": "someone/mystery-model"}})
    p = plan(cfg, stats(500), hw(23.6))
    assert p.memory is None
    assert any("unknown" in n for n in p.notes)


def test_plan_json_roundtrip_and_apply():
    cfg = validate_dict({"lora": {"r": 64}})
    p = plan(cfg, stats(3000), hw(23.6))
    d = json.loads(json.dumps(p.to_dict()))
    assert d["settings"]["lora.r"] == {"value": 64, "source": "explicit", "reason": "set by you; kept (plan: 16)"}
    raw = {"lora": {"r": 64}}
    new = p.apply_to(raw)
    assert new["lora"]["r"] == 64
    assert new["training"]["packing"] is True
    validate_dict(new)  # what --write would write is a valid config
    assert raw == {"lora": {"r": 64}}  # the caller's dict is untouched


def test_shapes_known_for_common_names():
    for name, hidden in [
        ("unsloth/gemma-3-4b-it", 2560),
        ("meta-llama/Llama-3.2-1B-Instruct", 2048),
        ("unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit", 4096),
        ("Qwen/Qwen2.5-7B-Instruct", 3584),
        ("builtin:tiny-llama", 64),
    ]:
        assert shape_for(name).hidden == hidden, name
    assert 1.2e9 < shape_for("llama-3.2-1b").params < 1.3e9
    assert 7.9e9 < shape_for("llama-3.1-8b").params < 8.1e9
    assert 2.6e8 < shape_for("gemma-3-270m").params < 2.8e8


def test_8b_on_h100_trades_micro_batch_for_no_recompute():
    # measured on an H100 (docs/benchmarks.md): 8B with checkpointing at 18k tokens ran 10.5k tok/s;
    # LoRA recompute costs 6N instead of 4N FLOPs per token, so a smaller micro-batch without it wins
    cfg = validate_dict({"model": {"name": "unsloth/Meta-Llama-3.1-8B-Instruct"}})
    p = plan(cfg, stats(1000), hw(79.1))
    assert p.value("model.load_in_4bit") is False
    assert p.value("lora.use_gradient_checkpointing") is False
    assert 8192 <= p.tokens_per_micro_batch <= 16384
    assert p.memory.torch_peak_gb < 79.1 * 0.9
