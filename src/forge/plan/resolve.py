"""The one resolver: (config, model facts, data stats, hardware) -> every setting with its reason.

`forge plan`, `forge check`, `forge train` and bench all call `resolve` (alias `plan`). No torch
and no model weights: the model's facts come from its files (forge.models.facts), the data's
from forge.plan.measure, the hardware's from forge.plan.hardware.probe, all passed in as data.

Two ways to ask, one answer:
- `forge plan` (explicit = the keys the user chose): fill every other key with the plan's value;
- check and train (explicit = forge.plan.settings.configured_keys: every key not "auto"): keep
  the config as it is, resolve only its "auto" values (eval cadence and size, the chat template,
  the sample minimum) and say what would stop training (`Plan.refusals`, forge.plan.refusals).
  `forge check` is ready exactly when that list is empty, which is when `forge train` starts.

What it decides, in this order, each with its reason:
1. the backend (Unsloth on a CUDA GPU, transformers+PEFT+TRL elsewhere) and the memory budget
   (the card, its free memory, and training.vram_budget_gb / `forge plan --vram-gb`);
2. the model: kept when the user named one; else the original VRAM table's choice (CPU: the
   embedded builtin:gemma-3-270m), checked against the memory estimate and stepped down the
   ladder until it fits; 16-bit weights where they take under 40% of the budget, else 4-bit;
3. max_seq_length: the p99 of the templated token lengths, rounded up to 256, capped by the model;
4. dataset-size rules: epochs, learning rate, LoRA rank (alpha = 2r), warm-up;
5. packing on GPU backends; the micro-batch from a token budget that fills the card, gradient
   checkpointing off when the budget fits without it, accumulation to reach the effective batch;
   then FP8 base products where measured faster at such a micro-batch on this card (forge.plan.fp8);
6. eval cadence and size (forge.plan.eval_budget: about a tenth of training time), save cadence,
   and the estimate of steps, time and memory; then the refusals.
"""

from __future__ import annotations

import math
from typing import Any

from forge.config import ForgeConfig
from forge.models.facts import ModelFacts, read_facts
from forge.plan.backend_choice import choose
from forge.plan.eval_settings import eval_settings as _eval_settings
from forge.plan.eval_settings import eval_time as _eval_time
from forge.plan.fp8 import FP8_KEYS, choose_fp8
from forge.plan.hardware import HardwareInfo
from forge.plan.images import image_speed_share, images_bytes
from forge.plan.memory import (
    USABLE_VRAM,
    estimate_memory,
    flops_per_token,
    gpu_peak_tflops,
    tokens_per_second,
)
from forge.plan.settings import Builder, Plan, Setting, configured_keys, explicit_keys
from forge.plan.stats import DataStats
from forge.plan.vram_table import VRAM_TABLE, table_row

CPU_MODEL = "builtin:gemma-3-270m"
# Step-down ladder when the table's choice does not fit the estimate.
LADDER = (
    "unsloth/gemma-3-27b-it",
    "unsloth/gemma-3-12b-it",
    "unsloth/gemma-3-4b-it",
    "unsloth/gemma-3-1b-it",
    "unsloth/gemma-3-270m-it",
)
FREE_MARGIN_GB = 0.5  # kept free of what other processes left, for the CUDA context's growth
FIT_TOKENS = 4096  # a model "fits" when a micro-batch of this many tokens does (with checkpointing)
# CPU speed: matmul FLOP/s a core sustains, plus a fixed cost a token (kernel launches, the data
# path) that bounds the tiny models. Measured 2026-12-02 on a shared 2-core CPU, torch 2.13 float32:
# builtin:gemma-3-270m trained 91-98 tokens/s (1.6 GFLOP a token: about 75 GFLOP/s a core), where the
# old rule (0.1 TFLOP/s per 8 cores x 0.3) said 5 tokens/s and 265 min for a 12-minute run
CPU_FLOPS_PER_CORE = 50e9  # below the measured 75: a busier or older CPU should not be promised more
CPU_SECONDS_PER_TOKEN = 1e-4  # the tiny random models: 1,000-17,000 tokens/s measured, step-bound


def memory_budget(hw: HardwareInfo, config: ForgeConfig, vram_gb: float | None = None) -> tuple[float, str]:
    """(GB the estimate may fill, why): the card or the user's budget, less what others hold."""
    if not hw.has_gpu:
        asked = vram_gb or config.training.vram_budget_gb
        if asked:  # said, not dropped: the budget is a GPU's, and this plan is for the CPU here
            src = "--vram-gb" if vram_gb else "training.vram_budget_gb"
            return 0.0, f"no GPU here: {src} {asked:g} GB applies on a CUDA GPU; this plan is for the CPU"
        return 0.0, "no GPU"
    g = hw.gpus[0]
    card, why = g.vram_gb, f"the card's {g.vram_gb:g} GB"
    if g.limit_gb:
        card, why = g.limit_gb, f"torch's per-process limit of {g.limit_gb:g} GB"
    asked = vram_gb or config.training.vram_budget_gb
    if asked:
        src = "--vram-gb" if vram_gb else "training.vram_budget_gb"
        card, why = min(card, asked), f"{src} {asked:g} GB" + (f" (the card has {card:g})" if asked > card else "")
    usable = card * USABLE_VRAM
    why += f" x {USABLE_VRAM:g}"
    if g.free_gb is not None and g.free_gb - FREE_MARGIN_GB < usable and not g.limit_gb:
        usable = max(0.0, g.free_gb - FREE_MARGIN_GB)
        why = f"{g.free_gb:g} GB free on the card (other processes hold the rest) - {FREE_MARGIN_GB:g}"
    return usable, why


def _data_rules(n: int) -> dict[str, Any]:
    """Epochs, learning rate and LoRA rank by the number of training examples."""
    if n < 500:
        return {"epochs": 3, "lr": 2e-4, "r": 8, "why": f"{n} examples (<500): 3 epochs, lr 2e-4, r=8"}
    if n < 5000:
        return {"epochs": 3, "lr": 2e-4, "r": 16, "why": f"{n} examples (500-5k): 3 epochs, lr 2e-4, r=16"}
    if n < 50000:
        return {"epochs": 2, "lr": 1e-4, "r": 16, "why": f"{n} examples (5k-50k): 2 epochs, lr 1e-4, r=16"}
    return {"epochs": 1, "lr": 1e-4, "r": 32, "why": f"{n} examples (50k+): 1 epoch, lr 1e-4, r=32"}


def _round_up(n: float, step: int) -> int:
    return int(math.ceil(n / step) * step)


def _choose_model(b: Builder, hw: HardwareInfo, budget_card_gb: float, fits) -> tuple[str, str]:
    cfg = b.config
    if "model.name" in b.explicit:
        return cfg.model.name, "set by you; kept"
    if not hw.has_gpu:
        return CPU_MODEL, "no CUDA GPU: the embedded Gemma 3 270M (trains on a CPU)"
    row = table_row(budget_card_gb)
    start = row.model if row else LADDER[-2]
    why = (
        f"VRAM table: {budget_card_gb:g} GB -> {row.model}"
        if row
        else f"{budget_card_gb:g} GB is under the VRAM table's 8 GB row"
    )
    ladder = list(LADDER[LADDER.index(start) :]) if start in LADDER else [start, *LADDER]
    for name in ladder:
        if fits(name):
            if name != start:
                why += f"; the memory estimate steps down to {name}"
            return name, why
    return ladder[-1], why + "; nothing on the ladder fits the estimate comfortably"


def resolve(
    config: ForgeConfig,
    data: DataStats,
    hardware: HardwareInfo,
    explicit: set[str] | None = None,
    *,
    facts: ModelFacts | None = None,
    vram_gb: float | None = None,
    as_configured: bool = False,
    root=None,
) -> Plan:
    """Every setting for this config, data and hardware; `as_configured`: check's and train's view;
    `root`: the project folder (relative output paths are checked for writing under it)."""
    if as_configured:
        explicit = configured_keys(config)
    elif explicit is None:
        explicit = explicit_keys(config)
    b = Builder(config, explicit)
    hw = hardware
    notes: list[str] = []
    gpu = hw.has_gpu
    gpu_name = hw.gpus[0].name if gpu else None
    budget_gb, budget_why = memory_budget(hw, config, vram_gb)
    if not hw.has_gpu and budget_why != "no GPU":
        notes.append(budget_why)  # the console plan says it too, not only the JSON's reason

    # 1. backend
    backend, _ = choose(config.training.backend, hw.unsloth_reason)  # the rule train applies
    targets = list(config.lora.target_modules)
    rules = _data_rules(data.train_examples)
    optim_default = "adamw_8bit" if gpu else "adamw_torch"
    optim = config.training.optim if "training.optim" in explicit else optim_default

    # 2. model (the estimate at a modest micro-batch with checkpointing decides whether it fits)
    def fits(name: str) -> bool:
        shape = read_facts(name).shape
        if shape is None:
            return True
        four = config.model.load_in_4bit if "model.load_in_4bit" in explicit else True
        est = estimate_memory(
            shape,
            tokens_per_micro_batch=min(FIT_TOKENS, shape.max_positions),
            load_in_4bit=four,
            lora_r=rules["r"],
            targets=targets,
            gradient_checkpointing="unsloth",
            optim=optim,
            backend=backend,
        )
        return est.total_gb <= budget_gb

    card_gb = budget_gb / USABLE_VRAM if gpu else 0.0
    model_name, why = _choose_model(b, hw, card_gb, fits)
    model_name = b.set("model.name", model_name, why)
    if facts is None or facts.name != model_name:
        facts = read_facts(model_name)
    shape = facts.shape
    if shape is None:
        from forge.models.shape import known_names

        notes.append(
            f"the shape of {model_name} is unknown ({facts.problem or 'config.json unreadable'}): "
            f"memory and time are not estimated (names known without files: {known_names()})"
        )
    elif facts.source == "table":
        notes.append(f"{model_name} is not on disk: sized by its name from the table of published configs")

    # weights: 16-bit where they take under 40% of the budget (faster: no dequantisation), else 4-bit
    if not gpu:
        four, why4 = False, "no GPU: bitsandbytes 4-bit needs CUDA"
    elif any(k in explicit and b.current(k) for k in FP8_KEYS):
        four, why4 = False, "FP8 base weights asked for (model.fp8_matmul / load_in_fp8): they replace 4-bit"
    elif shape is not None and shape.params * 2 / 1024**3 < 0.4 * card_gb:
        four, why4 = False, f"16-bit weights ({shape.params * 2 / 1024**3:.1f} GB) fit easily; no dequantisation cost"
    else:
        four, why4 = True, "4-bit weights (QLoRA) to leave room for activations"
    four = b.set("model.load_in_4bit", four, why4)

    # 3. sequence length from the data
    p99 = data.quantile(0.99)
    cap = shape.max_positions if shape else 8192
    seq = min(max(256, _round_up(p99, 256)), cap)
    why_seq = f"p99 of templated lengths is {p99} tokens ({data.measured_with}); rounded up to {seq}"
    if seq == cap and p99 > cap:
        why_seq += f", capped by the model ({cap})"
    seq = b.set("model.max_seq_length", seq, why_seq)
    truncated = data.truncated(seq)
    if truncated:
        notes.append(f"{truncated} training example(s) are longer than {seq} tokens and will be truncated")

    # 4. dataset-size rules
    r = b.set("lora.r", rules["r"], rules["why"])
    b.set("lora.lora_alpha", 2 * r, "alpha = 2r (LoRA scale 2)")
    epochs = b.set("training.num_train_epochs", rules["epochs"], rules["why"])
    b.set("training.learning_rate", rules["lr"], rules["why"])
    b.set("training.optim", optim_default, "8-bit AdamW on CUDA (bitsandbytes)" if gpu else "AdamW (CPU)")

    # 5. packing, checkpointing, micro-batch
    from forge.plan.batch import TARGET_STEPS, size_batch
    from forge.plan.explain import batch_reason, time_range
    from forge.plan.explain import tokens_per_step as step_token_count

    mean_len = data.mean_capped(seq)
    sized = size_batch(b, shape, data, hw, budget_gb, seq, epochs, four, r, targets, optim, backend, notes)
    batch, accum, packing, gc = sized.batch, sized.accum, sized.packing, sized.gc
    tokens_per_row = seq if packing else mean_len
    micro_tokens = int(batch * tokens_per_row)
    # FP8 takes the 16-bit memory; its gain depends on the micro-batch's size
    choose_fp8(b, facts.dtype, shape.name if shape else None, hw, backend, notes, micro_tokens, gpu and not four)
    b.set("training.per_device_eval_batch_size", batch, "the train micro-batch (eval keeps no gradients)")

    # 6. steps, cadence, time
    ngpu = max(1, len(hw.gpus)) if gpu else 1
    total_tokens = mean_len * data.train_examples
    if packing:
        tokens_per_step = batch * accum * seq * ngpu * 0.97  # bfd packing fills ~97% of each row
        steps_per_epoch = max(1, math.ceil(total_tokens / tokens_per_step))
        padding_eff = 0.97
        examples_per_step = tokens_per_step / max(mean_len, 1)
    else:
        # the Trainer's own count: micro-batches per epoch, then optimizer steps
        steps_per_epoch = max(1, math.ceil(math.ceil(data.train_examples / (batch * ngpu)) / accum))
        padded = data.quantile(0.9) if batch > 1 else mean_len
        padding_eff = min(1.0, mean_len / max(min(padded, seq), 1))
        examples_per_step = batch * accum * ngpu
    total_steps = int(math.ceil(steps_per_epoch * float(epochs)))
    max_steps = config.training.max_steps if "training.max_steps" in explicit else None
    total_steps = max_steps or total_steps
    step_tokens = step_token_count(batch, accum, ngpu, tokens_per_row, packing)
    if b.settings["training.gradient_accumulation_steps"].source == "plan":  # the numbers used, not the aim
        b.settings["training.gradient_accumulation_steps"].reason = batch_reason(
            batch,
            accum,
            ngpu,
            step_tokens,
            mean_len,
            packing,
            steps_per_epoch,
            total_steps,
            epochs,
            TARGET_STEPS,
            max_steps,
        )
    warm = max(5, round(0.03 * total_steps))
    if warm >= total_steps:  # a short run would never reach its learning rate
        b.set(
            "training.warmup_steps", total_steps // 10, f"a tenth of the {total_steps} steps (5 would be all of them)"
        )
    else:
        b.set("training.warmup_steps", warm, "3% of the steps (at least 5)")
    _eval_settings(b, config, total_steps, examples_per_step, data.val_examples)

    mem = None
    tps = None
    if shape is not None:
        mem = estimate_memory(
            shape,
            tokens_per_micro_batch=int(batch * (seq if packing else data.padded_row(seq))),
            load_in_4bit=bool(four) and gpu,
            lora_r=r,
            targets=targets,
            gradient_checkpointing=gc,
            optim=optim,
            backend=backend,
            device="cuda" if gpu else "cpu",
            vision_bytes=images_bytes(facts, config, data, batch, gc),
            vision_frozen=not config.lora.finetune_vision_layers,
        )
        if gpu and mem.total_gb > budget_gb:
            notes.append(
                f"estimated {mem.total_gb:.1f} GB exceeds the budget of {budget_gb:.1f} GB ({budget_why}): "
                + (
                    "expect OOM backoff"
                    if batch > 1
                    else "one row is the backoff's floor; a shorter max_seq_length makes room"
                )
            )
            if len(hw.gpus) > 1:  # FSDP divides weights, gradients and optimizer state over the cards
                n = len(hw.gpus)
                notes.append(f"the model does not fit one card: shard it with `forge train --gpus {n} --strategy fsdp`")
        tps = tokens_per_second(
            shape,
            gpu_name,
            seq_len=int(mean_len),
            lora_r=r,
            targets=targets,
            gradient_checkpointing=gc,
            load_in_4bit=bool(four),
            backend=backend,
            tokens_per_micro_batch=micro_tokens,
        )
        if tps and not packing:
            tps *= padding_eff
        if not gpu:
            flops = flops_per_token(shape, int(mean_len), r, targets, gc)
            tps = 1 / (flops / (CPU_FLOPS_PER_CORE * max(1, hw.cpu_count)) + CPU_SECONDS_PER_TOKEN)
    tps = tps and tps * image_speed_share(facts, config, data, shape, mean_len, gc)  # the vision tower's share
    if gpu and gpu_peak_tflops(gpu_name) is None:
        notes.append(f"no speed model for {gpu_name}: time not estimated")
    seconds = (total_tokens * float(epochs) / (tps * ngpu)) if tps else None
    if config.training.max_steps and "training.max_steps" in explicit and tps:
        seconds = total_steps * batch * accum * tokens_per_row / (tps * ngpu)

    result = Plan(
        settings=b.settings,
        backend=backend,
        hardware=_hw_line(hw),
        shape=shape,
        memory=mem,
        tokens_per_micro_batch=micro_tokens,
        effective_batch_tokens=step_tokens,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        tokens_per_second=tps,
        seconds=seconds,
        padding_efficiency=padding_eff,
        truncated_examples=truncated,
        notes=notes,
        data=data.to_dict(),
        model=facts.to_dict(),
        budget_gb=budget_gb if gpu else None,
        budget_reason=budget_why,
    )
    _eval_time(result, examples_per_step)
    result.examples_per_step, result.hardware_load = examples_per_step, hw.load_average
    result.seconds_range = time_range(result.seconds, gpu, hw.load_average, hw.cpu_count)
    from forge.plan.refusals import add_refusals

    # judged on the config this plan describes: `forge plan` used to refuse and warn with the file's
    # values (max_seq_length 2048 "truncates 36 examples" beside its own 3840; "unsloth/gemma-3-4b-it
    # not found" beside its own 27B), which `plan --write` then `train` never see
    judged = config if as_configured else planned_config(config, result)
    add_refusals(result, judged, facts, data, hw, explicit, root)
    return result


def planned_config(config: ForgeConfig, result: Plan) -> ForgeConfig:
    """`config` with the plan's own values in (what `forge plan --write` writes and `train` then reads);
    values left to every run (Plan.updates: the chat template, the sample minimum) stay as they are."""
    updates = result.updates()
    if not updates:
        return config
    # model_copy, as forge.plan.for_run.run_config: the plan's values are already of each key's type
    sections = {name: getattr(config, name).model_copy(update=values) for name, values in updates.items()}
    return config.model_copy(update=sections)


plan = resolve  # the name `forge plan` has always called


def _hw_line(hw: HardwareInfo) -> str:
    if not hw.has_gpu:
        return f"CPU only ({hw.cpu_count} cores): {hw.problem or 'no GPU'}"
    g = hw.gpus[0]
    more = f" x{len(hw.gpus)}" if len(hw.gpus) > 1 else ""
    return f"{g.name}{more}, {g.vram_gb:g} GB"


__all__ = ["DataStats", "Plan", "Setting", "plan", "resolve", "explicit_keys", "VRAM_TABLE", "memory_budget"]
