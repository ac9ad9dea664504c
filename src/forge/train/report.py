"""metrics/training-stats.json: the final numbers of a run (torch-free).

Keeps the original script's keys (model, dataset_samples, final_loss, total_steps, epochs,
completed_at) and adds what a reader needs to judge the run without opening the log.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from statistics import fmean

from forge.clock import utcnow
from forge.config.source import paths_record
from forge.records.train import HistoryRow, TrainingStats, read_history

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "unsloth")


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def data_counts(report) -> dict:
    """The tokenization report as plain numbers, whatever its exact class looks like."""
    if report is None:
        return {}
    if hasattr(report, "to_dict"):
        d = report.to_dict()
    else:
        d = {k: v for k, v in vars(report).items() if not k.startswith("_")}
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None)))}


def loss_summary(history: list[HistoryRow]) -> dict:
    train = [r.loss for r in history if r.loss is not None]
    evals = [r.eval_loss for r in history if r.is_eval]
    return {
        "final_train_loss": train[-1] if train else None,
        "mean_train_loss": round(fmean(train), 6) if train else None,
        "first_train_loss": train[0] if train else None,
        "eval_loss": evals[-1] if evals else None,
        "best_eval_loss": min(evals) if evals else None,
        "eval_count": len(evals),
    }


def trainer_final_loss(state) -> float | None:
    """The last loss the Trainer logged, else its end-of-run mean `train_loss` (from log_history).

    The fallback for a history without a train row (a run checkpointed by an older forge whose
    logging_steps was above its steps): the final loss is recorded whenever the Trainer has one."""
    for entry in reversed(getattr(state, "log_history", None) or []):
        for key in ("loss", "train_loss"):
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def eval_scope(used: int, total: int) -> str:
    """Which val examples train's eval_loss covers: train's evals may score a fixed sample of them
    (training.eval_samples), while `forge evaluate` scores all; two numbers, labelled."""
    if used < total:
        return (
            f"{used} of {total} val examples (a fixed sample, training.eval_samples); `forge evaluate` "
            f"scores all {total}"
        )
    return f"all {total} val examples"


def _durations(recipe) -> dict:
    """duration_seconds over every segment of the run (the seconds the checkpoint resumed from had
    recorded, plus this process's), this segment's, and the wall clock since started_at."""
    from forge.clock import parse_time

    segment = time.time() - recipe.t0
    callback = getattr(recipe, "callback", None)
    prior = getattr(callback, "prior_seconds", 0.0) or 0.0
    started = parse_time(recipe.started_at) if recipe.started_at else None
    return {
        "duration_seconds": round(prior + segment, 1),
        "segment_seconds": round(segment, 1),
        "wall_seconds": round(time.time() - started.timestamp(), 1) if started else None,
    }


def _peaks(load: tuple[float, float] | None) -> dict:
    """torch's peak GPU memory in this process (the plan's torch_peak_gb estimates the steps' peak):
    the whole segment's, the load's (before the first step) and the steps' own; nothing without CUDA."""
    from forge.train.vram import peaks_gb

    steps = peaks_gb()
    if steps is None:
        return {}
    load = load or (0.0, 0.0)
    return {
        "peak_vram_gb": max(steps[0], load[0]),
        "peak_vram_reserved_gb": max(steps[1], load[1]),
        "load_peak_vram_gb": load[0] or None,
        "steps_peak_vram_gb": steps[0],
        "steps_peak_vram_reserved_gb": steps[1],
    }


def build_stats(recipe) -> TrainingStats:
    """The stats of a finished run, from the recipe's RunSettings: the batch that actually ran
    (after OOM retries and the data-parallel division), not the one configured."""
    state, settings = recipe.trainer.state, recipe.settings
    cfg, t = settings.cfg, settings.cfg.training
    losses = loss_summary(read_history(recipe.project.history_file))
    if losses["final_train_loss"] is None:
        losses["final_train_loss"] = trainer_final_loss(state)
    labels = recipe.trainer.train_dataset["labels"]
    n_train, n_val = len(recipe.data.train), recipe.data.val_total
    ckpt = recipe.start.checkpoint if recipe.start else None
    return TrainingStats(
        # the original keys
        model=cfg.model.name,
        dataset_samples=n_train,
        final_loss=losses["final_train_loss"],
        total_steps=state.global_step,
        epochs=round(state.epoch or 0, 4),
        completed_at=utcnow(),
        # forge's additions
        **losses,
        train_samples=n_train,
        val_samples=n_val,
        val_samples_used=len(recipe.data.val),
        eval_loss_scope=eval_scope(len(recipe.data.val), n_val) if losses["eval_loss"] is not None else None,
        trained_tokens_per_epoch=sum(sum(1 for tok in ex if tok != -100) for ex in labels),
        tokens_seen=state.num_input_tokens_seen,
        **_durations(recipe),
        backend=recipe.backend.name,
        run_id=recipe.run_id,
        started_at=recipe.started_at,
        resumed_from=ckpt.path.name if ckpt else None,
        learning_rate=t.learning_rate,
        effective_batch=settings.effective_batch(),
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        world_size=settings.world_size,
        oom_retries=settings.oom_retries,
        **_peaks(getattr(recipe.callback, "load_peak", None)),
        max_seq_length=cfg.model.max_seq_length,
        lora_r=cfg.lora.r,
        plan=recipe.plan.to_dict(),
        data=data_counts(recipe.data.report),
        versions=library_versions(),
        config_source=getattr(recipe, "source", None),
        paths=paths_record(cfg),
    )
