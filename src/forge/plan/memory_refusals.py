"""Whether the run fits the memory, found before any weights load (part of forge.plan.refusals).

On a GPU: refused where even the micro-batch the OOM backoff ends at needs more than the card
(lora.r=1000000000 used to fail as "unexpected error ... can't allocate"); warned where the plan's
micro-batch is over the budget (the backoff will halve it), or one row is (only a shorter row
makes room). On a CPU: refused beyond the RAM. Warnings never stop training.
"""

from __future__ import annotations

from forge.config import ForgeConfig
from forge.models.facts import ModelFacts
from forge.plan.hardware import HardwareInfo
from forge.plan.memory import USABLE_VRAM, estimate_memory
from forge.plan.settings import Plan
from forge.plan.settings import refuse as _refuse
from forge.plan.settings import warn as _warn

RAM_SHARE = 0.9


def memory_refusals(p: Plan, config: ForgeConfig, facts: ModelFacts, hw: HardwareInfo) -> None:
    shape, est = p.shape, p.memory
    if shape is None or est is None:
        why = facts.problem or "its config.json could not be read"
        _warn(p, "memory", "model.name", f"cannot check that {config.model.name} fits: {why}", "run `forge plan`")
        return
    r = p.settings["lora.r"].value
    dims = [min(io) for n, io in shape.linear_shapes().items() if n in config.lora.target_modules]
    smallest = min(dims) if dims else None
    if smallest and r > smallest:
        _warn(
            p,
            "sizes",
            "lora.r",
            f"lora.r={r} is larger than the smallest adapted layer ({smallest}): more parameters, no more capacity",
            f"use lora.r of {smallest} or less (8-64 is usual)",
        )
    adapter_gb = est.lora_gb + est.optimizer_gb
    if hw.has_gpu:
        _gpu_memory(p, config, shape, adapter_gb, hw)
    elif hw.ram_gb:
        limit = hw.ram_gb * RAM_SHARE
        if est.total_gb > limit:
            key, fix = _biggest_part(est, adapter_gb, r, "builtin:gemma-3-270m (or builtin:tiny-llama), or use a GPU")
            _refuse(
                p,
                "sizes" if key == "lora.r" else "memory",
                key,
                f"{config.model.name} needs about {est.total_gb:,.1f} GB to train on the CPU "
                f"({_parts(est)}); this machine has {hw.ram_gb:.0f} GB of RAM",
                fix,
            )
        elif shape.params > 3e9:
            _warn(p, "memory", "model.name", f"{config.model.name} fits the RAM but trains very slowly on a CPU", "")


def _gpu_memory(p: Plan, config: ForgeConfig, shape, adapter_gb: float, hw: HardwareInfo) -> None:
    from forge.plan.vram_table import table_row

    t = config.training
    batch = p.settings["training.per_device_train_batch_size"].value
    smallest = max(1, batch >> t.oom_retries)  # where the OOM backoff would end
    per_row = p.tokens_per_micro_batch / max(batch, 1)
    gc = p.settings["lora.use_gradient_checkpointing"].value
    least = estimate_memory(
        shape,
        tokens_per_micro_batch=int(per_row * smallest),
        load_in_4bit=bool(p.settings["model.load_in_4bit"].value),
        lora_r=p.settings["lora.r"].value,
        targets=config.lora.target_modules,
        gradient_checkpointing=gc,
        optim=p.settings["training.optim"].value,
        backend=p.backend,
    )
    card = hw.gpus[0].limit_gb or hw.gpus[0].vram_gb
    if p.budget_gb and p.budget_gb < card * USABLE_VRAM:
        card = p.budget_gb / USABLE_VRAM if config.training.vram_budget_gb else card
    name = config.model.name
    if least.total_gb > card:
        row = table_row(card)
        other = f"use {row.model} (the VRAM table's choice for {card:g} GB)" if row else "use a model under 1B"
        key, fix = _biggest_part(least, adapter_gb, p.settings["lora.r"].value, other + ", or `forge plan --write`")
        _refuse(
            p,
            "sizes" if key == "lora.r" else "memory",
            key,
            f"{name} needs about {least.total_gb:,.1f} GB even at micro-batch {smallest} ({_parts(least)}); "
            f"the GPU has {card:g} GB",
            fix,
        )
    elif p.memory.total_gb > (p.budget_gb or card) and batch > 1:
        _warn(
            p,
            "memory",
            "training.per_device_train_batch_size",
            f"estimated {p.memory.total_gb:.1f} GB at micro-batch {batch} exceeds the budget of "
            f"{p.budget_gb:.1f} GB: the OOM backoff will halve it",
            "lower training.per_device_train_batch_size, or `forge plan --write`",
        )
    elif p.memory.total_gb > (p.budget_gb or card):
        # one row is the floor of the backoff: only a shorter row makes room (the estimate errs
        # high: the 27B-it at 24 GB planned 20.6 GB of torch peak and used 18.4)
        seq = p.settings["model.max_seq_length"].value
        _warn(
            p,
            "memory",
            "model.max_seq_length",
            f"estimated {p.memory.total_gb:.1f} GB at micro-batch 1 is over the budget of {p.budget_gb:.1f} GB "
            f"(under the card's {card:g} GB): the OOM backoff cannot go below one row",
            f"if it runs out of memory, lower model.max_seq_length (now {seq}) or lora.r",
        )


def _biggest_part(est, adapter_gb: float, r: int, model_fix: str) -> tuple[str, str]:
    if adapter_gb > est.weights_gb:
        return "lora.r", f"lower lora.r (now {r}; 8-64 is usual)"
    if est.weights_gb > est.activations_gb + est.logits_gb:
        return "model.name", model_fix
    return "model.max_seq_length", "lower model.max_seq_length or training.per_device_train_batch_size"


def _parts(est) -> str:
    return (
        f"weights {est.weights_gb:,.1f}, LoRA + optimizer {est.lora_gb + est.optimizer_gb:,.1f}, "
        f"activations + logits {est.activations_gb + est.logits_gb:,.1f} GB"
    )
