"""The resolver's step 5: packing, gradient checkpointing, micro-batch and accumulation.

The micro-batch comes from a token budget that fills the card (the memory estimate's largest
micro-batch under the budget), capped where a larger one gains little; checkpointing goes off when
enough tokens fit without it (LoRA without recompute: 4N FLOPs a token instead of 6N); accumulation
reaches an effective batch that gives about TARGET_STEPS optimizer steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge.plan.memory import max_tokens_that_fit

MAX_MICRO_TOKENS = 32768  # beyond this an H100 gains little per token and optimizer steps get rare
MIN_MICRO_TOKENS_NO_GC = 8192  # turn checkpointing off if this many tokens fit without it (measured: 8B, H100)
TARGET_STEPS = 150  # optimizer steps a run should have, for the effective batch
ORIGINAL_EFFECTIVE_EXAMPLES = 8  # batch 2 x accumulation 4


@dataclass
class Batch:
    batch: int
    accum: int
    packing: bool
    gc: bool | str


def _round_up(n: float, step: int) -> int:
    return int(-(-n // step) * step)


def size_batch(b, shape, data, hw, budget_gb, seq, epochs, four, r, targets, optim, backend, notes) -> Batch:
    from forge.plan.backend_choice import packing_off_reason

    gpu = hw.has_gpu
    explicit = b.explicit
    mean_len = data.mean_capped(seq)
    # packed only where training packs (the hf backend on a GPU without flash_attn turned it off, and
    # then trained unpacked rows with steps and batches sized for packed ones)
    off = packing_off_reason(backend, gpu, images=data.images > 0) if gpu or data.images else None
    packing = b.set(
        "training.packing",
        gpu and off is None,
        "padding-free packing with per-example positions and labels: no padding, masking exact"
        if gpu and off is None
        else off or "CPU: no varlen attention kernel, so examples are padded per batch instead",
    )
    total_tokens = mean_len * data.train_examples
    eff_target = total_tokens * float(epochs) / TARGET_STEPS
    eff_target = max(ORIGINAL_EFFECTIVE_EXAMPLES * mean_len, min(eff_target, 65536))

    gc_key = "lora.use_gradient_checkpointing"
    if gpu and shape is not None:
        common = dict(load_in_4bit=four, lora_r=r, targets=targets, optim=optim, backend=backend)
        fit_nogc = max_tokens_that_fit(shape, budget_gb, gradient_checkpointing=False, **common)
        fit_gc = max_tokens_that_fit(shape, budget_gb, gradient_checkpointing="unsloth", **common)
        want = min(MAX_MICRO_TOKENS, _round_up(eff_target, seq))
        if fit_nogc >= min(want, MIN_MICRO_TOKENS_NO_GC) and fit_nogc >= seq:
            gc, why_gc = (
                False,
                f"{min(fit_nogc, want)} tokens fit without checkpointing: no recompute (LoRA: 4N FLOPs per token instead of 6N)",
            )
            fit = fit_nogc
        else:
            gc, why_gc = "unsloth", f"only {fit_nogc} tokens fit without checkpointing; with it {fit_gc}"
            fit = fit_gc
        gc = b.set(gc_key, gc, why_gc)
        if gc_key in explicit:
            fit = fit_nogc if not gc else fit_gc
        micro_tokens = max(seq, min(want, fit - fit % seq if fit >= seq else seq))
        if fit < seq:
            notes.append(f"even one {seq}-token sequence exceeds the memory estimate; expect OOM backoff or lower it")
    else:
        gc = b.set(gc_key, True if not gpu else "unsloth", "saves activation memory")
        micro_tokens = seq if not gpu else 4 * seq
    rows = max(1, micro_tokens // seq)
    if not packing:
        # unpacked rows are padded to the longest in the batch: size it by the longest example's
        rows = max(1, int(micro_tokens // data.padded_row(seq))) if gpu else min(8, max(1, int(2048 // mean_len)))
    batch = b.set(
        "training.per_device_train_batch_size",
        rows,
        f"{rows} x {seq}-token packed rows = {rows * seq} tokens per micro-batch"
        if packing
        else f"{rows} examples per micro-batch",
    )
    tokens_per_row = seq if packing else mean_len
    micro = int(batch * tokens_per_row)
    accum = max(1, round(eff_target / max(micro, 1)))
    accum = b.set(
        "training.gradient_accumulation_steps",
        accum,
        f"effective batch about {int(eff_target)} tokens ({eff_target / mean_len:.0f} examples), "
        f"aiming at about {TARGET_STEPS} optimizer steps",
    )
    return Batch(batch, accum, packing, gc)
