"""`forge plan` refuses and warns about the config it plans, not the file it read.

It used to judge its refusals with the file's values: a plan that raised model.max_seq_length to
1024 said "not ready: every example keeps no trained token at 256", and one that chose
unsloth/gemma-3-27b-it for a 24 GB card said "unsloth/gemma-3-4b-it is not in the local cache".
check and train (as configured) keep judging the file, which is what they run.
"""

from __future__ import annotations

from forge.config import validate_dict
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.resolve import resolve
from forge.plan.stats import DataStats

CPU = HardwareInfo(torch_version="2.x", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
GPU24 = HardwareInfo(
    torch_version="2.x",
    cuda_version="12.8",
    gpus=[GPUInfo(name="NVIDIA L4", vram_gb=24.0, capability="8.9", bf16=True)],
    ram_gb=64,
)


def _long_prompts(n: int = 40) -> DataStats:
    # every example's first assistant token comes at token 899, the whole example is 904 tokens
    return DataStats(n, 5, [904] * n, "tokenizer of builtin:tiny-llama", [899] * n, measured=n)


def test_plan_does_not_refuse_what_its_own_max_seq_length_fixes():
    cfg = validate_dict({"model": {"name": "builtin:tiny-llama", "max_seq_length": 256}})
    p = resolve(cfg, _long_prompts(), CPU, explicit={"model.name"})
    assert p.value("model.max_seq_length") == 1024
    assert p.ready, [r.message for r in p.refusals]
    assert not [w for w in p.warnings if w.kind == "truncation"]


def test_check_still_refuses_the_file_as_it_is():
    cfg = validate_dict({"model": {"name": "builtin:tiny-llama", "max_seq_length": 256}})
    p = resolve(cfg, _long_prompts(), CPU, as_configured=True)
    assert [r.kind for r in p.refusals] == ["truncation"]
    assert "256" in p.refusals[0].message


def test_a_plan_kept_short_by_you_is_still_refused():
    cfg = validate_dict({"model": {"name": "builtin:tiny-llama", "max_seq_length": 256}})
    p = resolve(cfg, _long_prompts(), CPU, explicit={"model.name", "model.max_seq_length"})
    assert p.value("model.max_seq_length") == 256
    assert [r.kind for r in p.refusals] == ["truncation"]


def test_model_refusal_names_the_model_the_plan_chose():
    cfg = validate_dict({})  # the template's unsloth/gemma-3-4b-it, not the user's choice
    p = resolve(cfg, DataStats(300, 30, [120] * 300), GPU24, explicit=set())
    planned = p.value("model.name")
    assert planned != "unsloth/gemma-3-4b-it"
    for r in p.refusals:
        assert "gemma-3-4b-it" not in r.message, r.message
