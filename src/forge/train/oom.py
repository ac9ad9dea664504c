"""CUDA out-of-memory backoff around the trainer call (torch, imported lazily).

On an OOM while training: halve the micro-batch and double the accumulation (the effective batch
stays the same), rebuild the trainer, resume from the newest complete checkpoint (or from the
LoRA weights as they were before the first attempt when there is none yet) and train again, at
most `training.oom_retries` times. An OOM inside evaluation halves the eval batch instead. Each
retry is written to the status (`message`, `extra.oom_retries`) and to the log. When the retries
are spent, or the batch is already 1, the run fails with the original table's fix.

Test hooks (CPU, no real OOM needed): FORGE_TEST_OOM_AT_STEP=k raises torch.OutOfMemoryError at
the start of optimizer step k while the micro-batch is above 1 (FORGE_TEST_OOM_TIMES=n: the first
n times, default 1); FORGE_TEST_OOM_IN_EVAL=n raises it in the first n evaluation batches.
"""

from __future__ import annotations

import gc
import os
import traceback
from collections.abc import Callable
from typing import Any

from forge.errors import EXIT_FAIL, ForgeError

OOM_AT_ENV = "FORGE_TEST_OOM_AT_STEP"
OOM_TIMES_ENV = "FORGE_TEST_OOM_TIMES"
OOM_EVAL_ENV = "FORGE_TEST_OOM_IN_EVAL"

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


_fired = {"train": 0, "eval": 0}


def _int_env(name: str) -> int:
    try:
        return int(os.environ.get(name, "") or 0)
    except ValueError:
        return 0


def injector_callback():
    """A TrainerCallback that raises torch.OutOfMemoryError where the test hooks say (or None)."""
    at, evals = _int_env(OOM_AT_ENV), _int_env(OOM_EVAL_ENV)
    if not at and not evals:
        return None
    import torch
    from transformers import TrainerCallback

    times = _int_env(OOM_TIMES_ENV) or 1

    class OOMInjector(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if at and state.global_step + 1 == at and args.per_device_train_batch_size > 1:
                if _fired["train"] < times:
                    _fired["train"] += 1
                    raise torch.OutOfMemoryError(f"CUDA out of memory (injected by {OOM_AT_ENV}={at})")

        def on_prediction_step(self, args, state, control, **kwargs):
            if evals and _fired["eval"] < evals:
                _fired["eval"] += 1
                raise torch.OutOfMemoryError(f"CUDA out of memory (injected by {OOM_EVAL_ENV})")

    return OOMInjector()


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
    backend,
    rebuild: Callable[[], Any],
    fit: Callable[[Any, Any], Any],
    checkpoint,
    output_dir,
    log,
    status=None,
):
    """Run fit(trainer, checkpoint); on CUDA OOM shrink the batch, rebuild and resume. Returns the trainer."""
    from forge.train.checkpoints import newest_complete

    retries = backend.cfg.training.oom_retries
    attempt = 0
    inj = injector_callback()
    if inj is not None:
        trainer.add_callback(inj)
    snap = _snapshot_trainable(trainer.model) if checkpoint is None else None
    while True:
        try:
            fit(trainer, checkpoint)
            return trainer
        except Exception as e:
            if not is_oom(e):
                raise
            t = backend.cfg.training
            batch, accum = t.per_device_train_batch_size, t.gradient_accumulation_steps
            eval_batch = t.per_device_eval_batch_size or batch
            where = "evaluation" if in_evaluation(e) else "training"
            step = getattr(trainer.state, "global_step", 0)
            if where == "evaluation":
                can = eval_batch > 1
                new = {"per_device_eval_batch_size": max(1, eval_batch // 2)}
                change = f"eval batch {eval_batch} -> {new['per_device_eval_batch_size']}"
            else:
                can = batch > 1
                new = {"per_device_train_batch_size": max(1, batch // 2), "gradient_accumulation_steps": accum * 2}
                change = f"micro-batch {batch} -> {batch // 2}, accumulation {accum} -> {accum * 2}"
            if attempt >= retries or not can:
                why = f"{retries} retr{'y' if retries == 1 else 'ies'} spent" if can else "the batch is already 1"
                log.error("CUDA out of memory during %s at step %d; %s", where, step, why)
                raise OutOfMemory(
                    f"CUDA out of memory during {where} at step {step} ({why}; micro-batch {batch}, "
                    f"accumulation {accum}, max_seq_length {backend.cfg.model.max_seq_length})",
                    ORIGINAL_FIX,
                ) from e
            attempt += 1
            _free(trainer)
            del trainer
            backend.cfg = backend.cfg.model_copy(update={"training": t.model_copy(update=new)})
            checkpoint = newest_complete(output_dir)
            resume_from = checkpoint.path.name if checkpoint else "the start (no checkpoint yet)"
            msg = f"CUDA out of memory during {where} at step {step}: retry {attempt}/{retries} with {change}, from {resume_from}"
            log.warning(msg)
            if status is not None:
                status.update(message=msg, oom_retries=attempt, oom_last=msg)  # unknown keys land in `extra`
            trainer = rebuild()
            if inj is not None:
                trainer.add_callback(inj)
            if checkpoint is None and snap is not None:
                _restore_trainable(trainer.model, snap)
