"""CUDA out-of-memory backoff around the trainer call (torch, imported lazily).

On an OOM while training: halve the micro-batch and double the accumulation (the effective batch
stays the same), rebuild the trainer, resume from the newest complete checkpoint (or from the
LoRA weights as they were before the first attempt when there is none yet) and train again, at
most `training.oom_retries` times. An OOM inside evaluation halves the eval batch instead. The
change is made on the run's RunSettings (the one owner of the config), so the rebuilt trainer,
the stats and the run file all carry the batch that actually ran. Each retry is written to the
status (`message`, `extra.oom_retries`) and to the log. When the retries are spent, or the batch
is already 1, the run fails with the original table's fix.

Tests inject an OOM from outside (a TrainerCallback passed through forge.train.extensions), so
this module reads no test variable.
"""

from __future__ import annotations

import gc
import traceback
from collections.abc import Callable
from typing import Any

from forge.errors import EXIT_FAIL, ForgeError

# The original troubleshooting table's fix for "CUDA out of memory".
ORIGINAL_FIX = (
    "reduce training.per_device_train_batch_size (raise gradient_accumulation_steps to keep the effective "
    'batch), reduce model.max_seq_length, keep lora.use_gradient_checkpointing "unsloth", set '
    "model.load_in_4bit true, or pick a smaller model (`forge plan` sizes all of these for your GPU)"
)


class OutOfMemory(ForgeError):
    exit_code = EXIT_FAIL
    kind = "oom"


def is_oom(e: BaseException) -> bool:
    if type(e).__name__ == "OutOfMemoryError":
        return True
    text = str(e)
    return "CUDA out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text or "out of memory" in text.lower()


def in_evaluation(e: BaseException) -> bool:
    names = {f.name for f in traceback.extract_tb(e.__traceback__)}
    return bool(names & {"evaluate", "evaluation_loop", "prediction_step", "_evaluate"})


def _free(trainer) -> None:
    import torch

    try:
        trainer.optimizer = None
        trainer.lr_scheduler = None
        trainer.accelerator.free_memory()
    except Exception:
        pass
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _snapshot_trainable(model) -> dict[str, Any]:
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def _restore_trainable(model, snap: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in snap:
                p.copy_(snap[n].to(p.device))


def fit_with_backoff(
    trainer,
    *,
    settings,
    rebuild: Callable[[], Any],
    fit: Callable[[Any, Any], Any],
    checkpoint,
    output_dir,
    log,
    status=None,
    on_retry: Callable[[], None] | None = None,
):
    """Run fit(trainer, checkpoint); on CUDA OOM shrink the batch in `settings`, rebuild and resume.

    Returns the trainer that finished. `rebuild()` makes a new trainer from `settings` as it is
    now; `on_retry()` runs after each change (the recipe rewrites its run file there).
    """
    from forge.train.checkpoints import newest_complete

    retries = settings.training.oom_retries
    snap = _snapshot_trainable(trainer.model) if checkpoint is None else None
    while True:
        try:
            fit(trainer, checkpoint)
            return trainer
        except Exception as e:
            if not is_oom(e):
                raise
            t = settings.training
            batch, accum = t.per_device_train_batch_size, t.gradient_accumulation_steps
            where = "evaluation" if in_evaluation(e) else "training"
            step = getattr(trainer.state, "global_step", 0)
            spent = settings.oom_retries >= retries
            change = None
            if not spent:
                change = settings.shrink_eval_batch() if where == "evaluation" else settings.shrink_train_batch()
            if change is None:
                why = f"{retries} retr{'y' if retries == 1 else 'ies'} spent" if spent else "the batch is already 1"
                log.error("CUDA out of memory during %s at step %d; %s", where, step, why)
                raise OutOfMemory(
                    f"CUDA out of memory during {where} at step {step} ({why}; micro-batch {batch}, "
                    f"accumulation {accum}, max_seq_length {settings.cfg.model.max_seq_length})",
                    ORIGINAL_FIX,
                ) from e
            settings.oom_retries += 1
            attempt = settings.oom_retries
            _free(trainer)
            del trainer
            checkpoint = newest_complete(output_dir)
            resume_from = checkpoint.path.name if checkpoint else "the start (no checkpoint yet)"
            msg = f"CUDA out of memory during {where} at step {step}: retry {attempt}/{retries} with {change}, from {resume_from}"
            log.warning(msg)
            if status is not None:
                status.update(message=msg, oom_retries=attempt, oom_last=msg)  # unknown keys land in `extra`
            if on_retry is not None:
                on_retry()
            trainer = rebuild()
            if checkpoint is None and snap is not None:
                _restore_trainable(trainer.model, snap)
