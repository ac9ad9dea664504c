"""`forge plan` as a pure function: (config, data stats, hardware) -> Plan.

No torch, no files: `forge.commands.plan` gathers the inputs (the config and which keys the user
set, the token lengths of the templated data, the probed hardware) and prints or writes the answer.

What it decides, in this order, each with its reason:
1. the backend (Unsloth on a CUDA GPU, transformers+PEFT+TRL elsewhere);
2. the model: kept when the user named one; else the original VRAM table's choice (CPU: the
   embedded builtin:gemma-3-270m), checked against the memory estimate and stepped down the
   ladder until it fits; 16-bit weights where they take under 40% of the card, else 4-bit;
3. max_seq_length: the p99 of the templated token lengths, rounded up to 256, capped by the model;
4. dataset-size rules: epochs, learning rate, LoRA rank (alpha = 2r), warm-up;
5. packing (padding-free, per-example position ids and labels: the assistant-only masking stays
   exact) on GPU backends; the micro-batch from a token budget that fills the card, gradient
   checkpointing off when the budget fits without it, accumulation to reach the effective batch;
6. eval / save cadence (about ten evals a run), and the estimate of steps, time and memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from forge.config import ForgeConfig
from forge.plan.hardware import HardwareInfo
from forge.plan.memory import (
    SHAPES,
    MemoryEstimate,
    ModelShape,
    estimate_memory,
    gpu_peak_tflops,
    max_tokens_that_fit,
    shape_for,
    tokens_per_second,
)
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
USABLE_VRAM = 0.88  # of the card's memory the estimate may fill (the rest: other processes, spikes)
MAX_MICRO_TOKENS = 32768  # beyond this an H100 gains little per token and optimizer steps get rare
MIN_MICRO_TOKENS_NO_GC = 8192  # turn checkpointing off if this many tokens fit without it (measured: 8B, H100)
TARGET_STEPS = 150  # optimizer steps a run should have, for the effective batch
ORIGINAL_EFFECTIVE_EXAMPLES = 8  # batch 2 x accumulation 4


@dataclass
class DataStats:
    """Token lengths of the templated training examples (plus counts)."""

    train_examples: int
    val_examples: int = 0
    lengths: list[int] = field(default_factory=list)  # one per train example, templated
    measured_with: str = "chars/4"  # or "tokenizer:<name>"

    def quantile(self, q: float) -> int:
        if not self.lengths:
            return 512
        s = sorted(self.lengths)
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    @property
    def mean(self) -> float:
        return sum(self.lengths) / len(self.lengths) if self.lengths else 512.0

    def mean_capped(self, cap: int) -> float:
        if not self.lengths:
            return min(512.0, cap)
        return sum(min(n, cap) for n in self.lengths) / len(self.lengths)

    def truncated(self, cap: int) -> int:
        return sum(1 for n in self.lengths if n > cap)

    def to_dict(self) -> dict:
        return {
            "train_examples": self.train_examples,
            "val_examples": self.val_examples,
            "measured_with": self.measured_with,
            "tokens_mean": round(self.mean, 1),
            "tokens_p50": self.quantile(0.5),
            "tokens_p90": self.quantile(0.9),
            "tokens_p99": self.quantile(0.99),
            "tokens_max": max(self.lengths) if self.lengths else None,
        }


@dataclass
class Setting:
    key: str  # section.key
    value: Any
    source: str  # plan | explicit
    reason: str
    default: Any = None


@dataclass
class Plan:
    settings: dict[str, Setting]
    backend: str
    hardware: str
    shape: ModelShape | None
    memory: MemoryEstimate | None
    tokens_per_micro_batch: int
    effective_batch_tokens: int
    steps_per_epoch: int
    total_steps: int
    tokens_per_second: float | None
    seconds: float | None
    padding_efficiency: float
    truncated_examples: int
    notes: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def value(self, key: str) -> Any:
        return self.settings[key].value

    def updates(self) -> dict[str, dict[str, Any]]:
        """The plan's own values as nested config sections (explicit ones left out)."""
        out: dict[str, dict[str, Any]] = {}
        for s in self.settings.values():
            if s.source == "plan":
                section, key = s.key.split(".", 1)
                out.setdefault(section, {})[key] = s.value
        return out

    def apply_to(self, data: dict[str, Any]) -> dict[str, Any]:
        """A raw config dict with the plan's values written in; explicit values untouched."""
        import json

        out = json.loads(json.dumps(data))
        for section, values in self.updates().items():
            out.setdefault(section, {}).update(values)
        return out

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "hardware": self.hardware,
            "settings": {
                k: {"value": s.value, "source": s.source, "reason": s.reason} for k, s in self.settings.items()
            },
            "memory": self.memory.to_dict() if self.memory else None,
            "model_shape": self.shape.to_dict() if self.shape else None,
            "tokens_per_micro_batch": self.tokens_per_micro_batch,
            "effective_batch_tokens": self.effective_batch_tokens,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "tokens_per_second": round(self.tokens_per_second) if self.tokens_per_second else None,
            "estimated_seconds": round(self.seconds) if self.seconds else None,
            "padding_efficiency": round(self.padding_efficiency, 3),
            "truncated_examples": self.truncated_examples,
            "data": self.data,
            "notes": self.notes,
        }


def explicit_keys(config: ForgeConfig) -> set[str]:
    """section.key of every value the config was given (file or --set), from pydantic's fields_set."""
    out = set()
    for section in ("model", "lora", "training", "dataset", "save", "evaluation"):
        sec = getattr(config, section)
        if section in config.model_fields_set:
            out |= {f"{section}.{k}" for k in sec.model_fields_set}
    return out


class _Builder:
    def __init__(self, config: ForgeConfig, explicit: set[str]):
        self.config = config
        self.explicit = explicit
        self.settings: dict[str, Setting] = {}

    def current(self, key: str) -> Any:
        section, name = key.split(".", 1)
        return getattr(getattr(self.config, section), name)

    def set(self, key: str, value: Any, reason: str) -> Any:
        """Record the plan's value unless the user set the key; returns the value in force."""
        if key in self.explicit:
            kept = self.current(key)
            note = "set by you; kept" + (f" (plan: {value!r})" if kept != value else "")
            self.settings[key] = Setting(key, kept, "explicit", note, value)
            return kept
        self.settings[key] = Setting(key, value, "plan", reason)
        return value


def _round_up(n: float, step: int) -> int:
    return int(math.ceil(n / step) * step)


def _data_rules(n: int) -> dict[str, Any]:
    """Epochs, learning rate and LoRA rank by the number of training examples."""
    if n < 500:
        return {"epochs": 3, "lr": 2e-4, "r": 8, "why": f"{n} examples (<500): 3 epochs, lr 2e-4, r=8"}
    if n < 5000:
        return {"epochs": 3, "lr": 2e-4, "r": 16, "why": f"{n} examples (500-5k): 3 epochs, lr 2e-4, r=16"}
    if n < 50000:
        return {"epochs": 2, "lr": 1e-4, "r": 16, "why": f"{n} examples (5k-50k): 2 epochs, lr 1e-4, r=16"}
    return {"epochs": 1, "lr": 1e-4, "r": 32, "why": f"{n} examples (50k+): 1 epoch, lr 1e-4, r=32"}


def _choose_model(b: _Builder, hw: HardwareInfo, fits) -> tuple[str, str]:
    cfg = b.config
    if "model.name" in b.explicit:
        return cfg.model.name, "set by you; kept"
    if not hw.has_gpu:
        return CPU_MODEL, "no CUDA GPU: the embedded Gemma 3 270M (trains on a CPU)"
    row = table_row(hw.vram_gb)
    start = row.model if row else LADDER[-2]
    why = f"VRAM table: {hw.vram_gb:g} GB -> {row.model}" if row else f"{hw.vram_gb:g} GB is under the table's 8 GB row"
    ladder = list(LADDER[LADDER.index(start) :]) if start in LADDER else [start, *LADDER]
    for name in ladder:
        if fits(name):
            if name != start:
                why += f"; the memory estimate steps down to {name}"
            return name, why
    return ladder[-1], why + "; nothing on the ladder fits the estimate comfortably"


def plan(
    config: ForgeConfig,
    data: DataStats,
    hardware: HardwareInfo,
    explicit: set[str] | None = None,
) -> Plan:
    if explicit is None:
        explicit = explicit_keys(config)
    b = _Builder(config, explicit)
    hw = hardware
    notes: list[str] = []
    gpu = hw.has_gpu
    gpu_name = hw.gpus[0].name if gpu else None
    vram = hw.vram_gb
    budget_gb = vram * USABLE_VRAM

    # 1. backend
    requested = config.training.backend
    backend = requested if requested != "auto" else ("unsloth" if gpu else "hf")
    if backend == "unsloth" and not gpu:
        notes.append("backend unsloth was asked for but there is no CUDA GPU; `forge train` will refuse it")
    targets = list(config.lora.target_modules)
    rules = _data_rules(data.train_examples)
    optim_default = "adamw_8bit" if gpu else "adamw_torch"
    optim = config.training.optim if "training.optim" in explicit else optim_default

    # 2. model (the estimate at a modest micro-batch with checkpointing decides whether it fits)
    def fits(name: str) -> bool:
        shape = shape_for(name)
        if shape is None:
            return True
        four = config.model.load_in_4bit if "model.load_in_4bit" in explicit else True
        est = estimate_memory(
            shape,
            tokens_per_micro_batch=min(4096, shape.max_positions),
            load_in_4bit=four,
            lora_r=rules["r"],
            targets=targets,
            gradient_checkpointing="unsloth",
            optim=optim,
            backend=backend,
        )
        return est.total_gb <= budget_gb

    model_name, why = _choose_model(b, hw, fits)
    model_name = b.set("model.name", model_name, why)
    shape = shape_for(model_name)
    if shape is None:
        notes.append(f"the shape of {model_name} is unknown: memory and time are not estimated (known: {_known()})")

    # weights: 16-bit where they take under 40% of the card (faster: no dequantisation), else 4-bit
    if not gpu:
        four, why4 = False, "no GPU: bitsandbytes 4-bit needs CUDA"
    elif shape is not None and shape.params * 2 / 1024**3 < 0.4 * vram:
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
    mean_len = data.mean_capped(seq)
    packing = b.set(
        "training.packing",
        gpu,
        "padding-free packing with per-example positions and labels: no padding, masking exact"
        if gpu
        else "CPU: no varlen attention kernel, so examples are padded per batch instead",
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
    rows = max(1, micro_tokens // seq) if packing else max(1, int(micro_tokens // max(seq, 1)))
    if not packing:
        # unpacked rows are padded to the longest in the batch; size the batch by mean lengths
        rows = max(1, int(micro_tokens // max(mean_len * 1.3, 1))) if gpu else min(8, max(1, int(2048 // mean_len)))
    batch = b.set(
        "training.per_device_train_batch_size",
        rows,
        f"{rows} x {seq}-token packed rows = {rows * seq} tokens per micro-batch"
        if packing
        else f"{rows} examples per micro-batch",
    )
    tokens_per_row = seq if packing else mean_len
    micro_tokens = int(batch * tokens_per_row)
    accum = max(1, round(eff_target / max(micro_tokens, 1)))
    accum = b.set(
        "training.gradient_accumulation_steps",
        accum,
        f"effective batch about {int(eff_target)} tokens ({eff_target / mean_len:.0f} examples), aiming at about {TARGET_STEPS} optimizer steps",
    )
    b.set("training.per_device_eval_batch_size", batch, "the train micro-batch (eval keeps no gradients)")

    # 6. steps, cadence, time
    ngpu = max(1, len(hw.gpus)) if gpu else 1
    if packing:
        tokens_per_step = batch * accum * seq * ngpu * 0.97  # bfd packing fills ~97% of each row
        steps_per_epoch = max(1, math.ceil(total_tokens / tokens_per_step))
        padding_eff = 0.97
    else:
        steps_per_epoch = max(1, math.ceil(data.train_examples / (batch * accum * ngpu)))
        padded = data.quantile(0.9) if batch > 1 else mean_len
        padding_eff = min(1.0, mean_len / max(min(padded, seq), 1))
    total_steps = int(math.ceil(steps_per_epoch * float(epochs)))
    if config.training.max_steps and "training.max_steps" in explicit:
        total_steps = config.training.max_steps
    warm = b.set("training.warmup_steps", max(5, round(0.03 * total_steps)), "3% of the steps (at least 5)")
    del warm
    eval_every = max(1, total_steps // 10)
    b.set("training.eval_steps", eval_every, f"about ten evals over {total_steps} steps")
    b.set("training.save_steps", eval_every, "a resumable checkpoint at every eval")

    mem = None
    tps = None
    if shape is not None:
        mem = estimate_memory(
            shape,
            tokens_per_micro_batch=int(batch * (seq if packing else max(mean_len * 1.3, 1))),
            load_in_4bit=bool(four) and gpu,
            lora_r=r,
            targets=targets,
            gradient_checkpointing=gc,
            optim=optim,
            backend=backend,
        )
        if gpu and mem.total_gb > vram:
            notes.append(f"estimated {mem.total_gb:.1f} GB exceeds the card's {vram:g} GB: expect OOM backoff")
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
            # CPU: ~0.1 TFLOP/s sustained per 8 cores for small models
            from forge.plan.memory import flops_per_token

            flops = flops_per_token(shape, int(mean_len), r, targets, gc)
            tps = 0.1e12 * max(1, hw.cpu_count) / 8 * 0.3 / flops
    if gpu and gpu_peak_tflops(gpu_name) is None:
        notes.append(f"no speed model for {gpu_name}: time not estimated")
    seconds = (total_tokens * float(epochs) / (tps * ngpu)) if tps else None
    if config.training.max_steps and "training.max_steps" in explicit and tps:
        seconds = total_steps * batch * accum * tokens_per_row / (tps * ngpu)

    return Plan(
        settings=b.settings,
        backend=backend,
        hardware=_hw_line(hw),
        shape=shape,
        memory=mem,
        tokens_per_micro_batch=micro_tokens,
        effective_batch_tokens=int(micro_tokens * accum * ngpu),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        tokens_per_second=tps,
        seconds=seconds,
        padding_efficiency=padding_eff,
        truncated_examples=truncated,
        notes=notes,
        data=data.to_dict(),
    )


def _known() -> str:
    return ", ".join(k for k in SHAPES if not k.startswith("builtin:"))


def _hw_line(hw: HardwareInfo) -> str:
    if not hw.has_gpu:
        return f"CPU only ({hw.cpu_count} cores): {hw.problem or 'no GPU'}"
    g = hw.gpus[0]
    more = f" x{len(hw.gpus)}" if len(hw.gpus) > 1 else ""
    return f"{g.name}{more}, {g.vram_gb:g} GB"


__all__ = ["DataStats", "Plan", "Setting", "plan", "explicit_keys", "VRAM_TABLE"]
