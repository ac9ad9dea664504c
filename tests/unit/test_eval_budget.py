"""Issue 15.5: eval is bounded by val size and step cost; 15.4: plan against a budget and free memory."""

from __future__ import annotations

import pytest

from forge.config import validate_dict
from forge.plan.eval_budget import eval_budget
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.resolve import resolve
from forge.plan.stats import DataStats

CPU = HardwareInfo(torch_version="2.x", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")


def test_issue_example_999_val_rows_10_steps():
    # 8bff25f: eval_steps=1, a full 999-example eval at every one of the 10 steps (25 min for 30 s of training)
    cfg = validate_dict({"model": {"name": "builtin:tiny-llama"}, "training": {"max_steps": 10}})
    p = resolve(cfg, DataStats(120, 999, [30] * 120), CPU, as_configured=True)
    assert p.value("training.eval_steps") == 10
    assert p.value("training.eval_samples") == 32
    assert "32 of the 999" in p.settings["training.eval_samples"].reason
    # the ETA includes the evals, and they are a small share of it
    assert p.eval_seconds and p.eval_seconds < 0.25 * p.seconds


@pytest.mark.parametrize("steps,per_step,val", [(300, 8, 24), (1000, 64, 5000), (150, 16, 200), (40, 4, 24)])
def test_eval_costs_about_a_tenth_of_training(steps, per_step, val):
    b = eval_budget(steps, per_step, val)
    assert b.cost_share(steps, per_step) <= 0.11
    assert b.eval_samples == min(val, b.eval_samples) and b.eval_samples >= min(val, 32)


def test_explicit_values_are_kept():
    cfg = validate_dict({"training": {"eval_steps": 3, "eval_samples": None, "max_steps": 30}})
    p = resolve(cfg, DataStats(120, 999, [30] * 120), CPU, as_configured=True)
    assert p.value("training.eval_steps") == 3 and p.value("training.eval_samples") is None


def test_run_config_takes_the_resolved_values_and_samples_deterministically():
    from forge.plan.for_run import run_config
    from forge.train.settings import RunSettings

    cfg = validate_dict({"model": {"name": "builtin:tiny-llama"}, "training": {"max_steps": 10}})
    p = resolve(cfg, DataStats(120, 999, [30] * 120), CPU, as_configured=True)
    run = run_config(p, cfg)
    assert (run.training.eval_steps, run.training.eval_samples) == (10, 32)
    assert run.dataset.chat_template == "tokenizer"  # auto -> the tiny model's own template
    picked = RunSettings(run).sample_val(list(range(999)))
    assert len(picked) == 32 and picked == RunSettings(run).sample_val(list(range(999)))


def _gpu(vram, free=None):
    return HardwareInfo(torch_version="2.x", gpus=[GPUInfo("NVIDIA H200", vram, "9.0", True, free_gb=free)])


def test_plan_for_a_budget_smaller_than_the_card():
    # 8bff25f: no way to plan for less than the whole card
    stats = DataStats(2000, 100, [600] * 2000)
    whole = resolve(validate_dict({}), stats, _gpu(139.8), explicit=set())
    p = resolve(validate_dict({}), stats, _gpu(139.8), explicit=set(), vram_gb=24)
    assert p.budget_gb == pytest.approx(24 * 0.88) and "--vram-gb 24" in p.budget_reason
    assert p.memory.total_gb <= 24 * 0.88
    assert p.memory.total_gb < whole.memory.total_gb  # a smaller model or a smaller micro-batch
    key = resolve(validate_dict({"training": {"vram_budget_gb": 16}}), stats, _gpu(139.8), explicit=set())
    assert key.value("model.name") in ("unsloth/gemma-3-12b-it", "unsloth/gemma-3-4b-it")
    assert key.memory.total_gb <= 16 * 0.88


def test_plan_against_free_memory():
    p = resolve(validate_dict({}), DataStats(2000, 100, [600] * 2000), _gpu(79.1, free=12.0), explicit=set())
    assert p.budget_gb == pytest.approx(11.5) and "free" in p.budget_reason
    assert p.memory.total_gb <= 11.5


def test_evals_asked_for_without_a_val_split_are_a_warning():
    # QA: `--set training.eval_steps=1 --set dataset.val_path=null` trained 2 steps without one eval
    # and without a word (eval_count 0 in training-stats.json)
    tiny = {"name": "builtin:tiny-llama"}
    cfg = validate_dict({"model": tiny, "training": {"eval_steps": 5, "max_steps": 30}, "dataset": {"val_path": None}})
    p = resolve(cfg, DataStats(120, 0, [30] * 120), CPU, as_configured=True)
    (w,) = [w for w in p.warnings if w.kind == "eval"]
    assert "training.eval_steps is 5" in w.message and "dataset.val_path is null" in w.message
    assert p.ready, p.refusals  # a warning: the run trains, and says so
    for quiet in ({"training": {"eval_steps": None}}, {"training": {"eval_steps": "auto"}}, {}):
        cfg = validate_dict({**quiet, "model": tiny, "dataset": {"val_path": None}})
        p = resolve(cfg, DataStats(120, 0, [30] * 120), CPU, as_configured=True)
        assert not [w for w in p.warnings if w.kind == "eval"], quiet
