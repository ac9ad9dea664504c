"""The plan says the numbers it used: one effective batch, one token count, the steps it gives.

Issue 28 (9): "effective batch about 3173 tokens (18 examples)" was printed for 8 x 2 = 16,
"2820 tokens per optimizer step" in the same output, and "aiming at about 150 optimizer steps"
beside 171; the CPU time estimate was 3-5x optimistic on a busy machine.
"""

from __future__ import annotations

import json
import math

import pytest

from forge.cli import main
from forge.config import validate_dict
from forge.plan.explain import slowdown
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.resolve import resolve
from forge.plan.stats import DataStats

CPU = HardwareInfo(torch_version="2.x", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
H100 = HardwareInfo(torch_version="2.x", cuda_version="13.0", gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 80, "9.0", True)])


def _plan(hw, name="builtin:gemma-3-270m", n=887, length=176):
    from forge.models.facts import read_facts

    cfg = validate_dict({"model": {"name": name}})
    return resolve(cfg, DataStats(n, 98, [length] * n), hw, facts=read_facts(name), explicit={"model.name"})


@pytest.mark.parametrize("hw", [CPU, H100], ids=["cpu", "gpu-packed"])
def test_the_accumulation_reason_gives_the_numbers_used(hw):
    p = _plan(hw, name="builtin:tiny-llama")
    batch, accum = p.value("training.per_device_train_batch_size"), p.value("training.gradient_accumulation_steps")
    reason = p.settings["training.gradient_accumulation_steps"].reason
    rows = batch * accum
    assert reason.startswith(f"{batch} x {accum} x 1 process(es) = {rows} ")
    assert f"about {p.effective_batch_tokens} tokens" in reason
    assert f"{p.steps_per_epoch} steps an epoch, {p.total_steps} in" in reason
    assert "effective batch about" not in reason  # the aim, stated as if it were the batch
    # the tokens of one step and the steps an epoch agree: the data in tokens / tokens a step
    total = p.data["train_examples"] * p.data["tokens_mean"]
    assert abs(math.ceil(total / p.effective_batch_tokens) - p.steps_per_epoch) <= 1
    if not p.settings["training.packing"].value:
        assert p.examples_per_step == rows
        assert p.steps_per_epoch == math.ceil(math.ceil(p.data["train_examples"] / batch) / accum)


def test_the_eval_reason_counts_the_same_examples_a_step():
    p = _plan(CPU, name="builtin:tiny-llama")
    rows = p.value("training.per_device_train_batch_size") * p.value("training.gradient_accumulation_steps")
    assert f"over {p.total_steps} steps of {rows} examples" in p.settings["training.eval_steps"].reason


def test_cpu_time_is_a_range_scaled_by_the_load():
    assert slowdown(None, 2) == 1.5  # an idle CPU: the speed model's calibration slack
    assert slowdown(6.0, 2) == pytest.approx(5.25)  # load 6 on 2 cores: a seventh of... 3.5 times slower
    busy = HardwareInfo(torch_version="2.x", cpu_count=2, ram_gb=16, problem="no GPU", load_average=6.0)
    p = _plan(busy, name="builtin:tiny-llama")
    low, high = p.seconds_range
    assert low == p.seconds and high == pytest.approx(low * 5.25)
    assert p.to_dict()["estimated_seconds_range"] == [round(low), round(high)]
    gpu = _plan(H100, name="builtin:tiny-llama")
    assert gpu.seconds_range is None or gpu.seconds_range[0] == gpu.seconds_range[1]


def test_forge_plan_prints_the_range_and_one_batch(project, capsys):
    assert main(["plan", str(project.root), "--set", "model.name=builtin:tiny-llama", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["estimated_seconds_range"][1] >= d["estimated_seconds_range"][0]
    assert main(["plan", str(project.root), "--set", "model.name=builtin:tiny-llama"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"{d['examples_per_step']:.0f} examples, {d['effective_batch_tokens']} tokens per optimizer step" in out
    assert "time about" in out and "the low end on an idle CPU" in out
