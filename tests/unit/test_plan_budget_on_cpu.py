"""A GPU budget asked on a machine without a GPU is said, not dropped (QA: `forge plan --vram-gb 8`
read as nothing), and the CPU estimate takes no CUDA context off (it read -0.3 GB)."""

from __future__ import annotations


def test_a_gpu_budget_on_a_cpu_machine_is_said_and_the_cpu_estimate_is_not_negative():
    from forge.config import validate_dict
    from forge.models.shape import SHAPES
    from forge.plan.hardware import HardwareInfo
    from forge.plan.memory import estimate_memory
    from forge.plan.resolve import memory_budget

    cpu = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
    budget, why = memory_budget(cpu, validate_dict({}), vram_gb=8)
    assert budget == 0.0 and "--vram-gb 8 GB applies on a CUDA GPU" in why
    _, why = memory_budget(cpu, validate_dict({"training": {"vram_budget_gb": 24}}))
    assert "training.vram_budget_gb 24 GB" in why
    tiny = estimate_memory(
        SHAPES["qwen2.5-0.5b"], tokens_per_micro_batch=8, load_in_4bit=False, lora_r=8, targets=["q_proj"],
        gradient_checkpointing=False, device="cpu",
    )  # fmt: skip
    assert tiny.torch_peak_gb == tiny.total_gb > 0  # no CUDA context on a CPU to take off
