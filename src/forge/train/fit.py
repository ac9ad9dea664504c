"""The one call that trains, which the OOM backoff wraps (torch via the trainer).

`fit_once` resumes from a checkpoint (or loads one already at the last step), and turns a
signal during an eval (EvalStopped, raised by the callback at the next eval batch) into a
checkpoint at the last finished optimizer step, so that the run stops within seconds and
`--resume` continues from there.

Two guards live here because every fit passes through it:
- a checkpoint at or past the end this trainer would train to is "finished" only when that end
  is the one the checkpoint's own run planned (trainer_state.json `max_steps`); any other end
  is refused (exit 2) instead of loading the checkpoint and calling the run done;
- the last step is always logged (LogLastStep): with logging_steps above the run's steps the
  Trainer logged nothing, and the run ended "done" with no final loss and an empty history.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from forge.errors import EXIT_USAGE, ForgeError
from forge.train.checkpoints import Checkpoint


def fit_once(trainer, checkpoint: Checkpoint | None):
    from forge.train.callbacks import EvalStopped
    from forge.train.integrity import load_finished, planned_steps

    log_last_step(trainer)
    if checkpoint is not None:
        planned = planned_steps(trainer)
        if checkpoint_steps(checkpoint.path)[1] not in (None, planned):  # a resume that moves the end
            rescheduled_lr(trainer)
        if checkpoint_at_end(checkpoint, planned):  # killed after the last step, or resumed once done
            logging.getLogger("forge.train").info(
                "resuming: the run already finished at step %d (%s); saving its outputs without training",
                checkpoint.step,
                checkpoint.path.name,
            )
            finished = load_finished(trainer, checkpoint.path)
            for cb in trainer.callback_handler.callbacks:  # the status shows where the run stands
                if hasattr(cb, "took_finished"):
                    cb.took_finished(trainer.state, checkpoint.path)
            return finished
    try:
        return trainer.train(resume_from_checkpoint=str(checkpoint.path) if checkpoint else None)
    except EvalStopped:
        save_stopped_eval(trainer)
        return None


def checkpoint_steps(path: Path) -> tuple[int | None, int | None]:
    """(global_step, the max_steps its run planned) from trainer_state.json; None where unreadable."""
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(state, dict):
        return None, None
    step, planned = state.get("global_step"), state.get("max_steps")
    return (step if isinstance(step, int) else None), (planned if isinstance(planned, int) and planned > 0 else None)


def checkpoint_at_end(checkpoint: Checkpoint, planned: int) -> bool:
    """True when the checkpoint is the finished end of this run; ForgeError when this run would end
    at or behind the checkpoint although its run planned to go further (never silently done)."""
    step, then = checkpoint_steps(checkpoint.path)
    if step is None or planned <= 0 or step < planned:
        return False
    if then is None or then == planned:
        return True
    raise ForgeError(
        f"--resume: {checkpoint.path.name} is at step {step} of a run planned for {then} steps, but this run "
        f"would end at step {planned} (training.max_steps / num_train_epochs): it would train nothing and "
        "call the run done",
        f"resume with --set training.max_steps={then} (the run's own end) or a larger value, "
        "or start a new run with `forge train --force`",
        exit_code=EXIT_USAGE,
        kind="config",
    )


def log_last_step(trainer) -> None:
    """Make the Trainer log the run's last step, whatever logging_steps says (once per trainer)."""
    from transformers import TrainerCallback

    class LogLastStep(TrainerCallback):
        # after DefaultFlowCallback in the handler's order: it only adds a log, never removes one
        def on_step_end(self, args, state, control, **kwargs):
            if state.max_steps and state.global_step >= state.max_steps:
                control.should_log = True
            return control

    handler = trainer.callback_handler
    if not any(type(cb).__name__ == "LogLastStep" for cb in handler.callbacks):
        trainer.add_callback(LogLastStep())


def rescheduled_lr(trainer) -> None:
    """A resume with a new end (a larger training.max_steps): the first step takes the new schedule's lr.

    The Trainer builds the scheduler for the new end and then loads the checkpoint's scheduler
    and optimizer states; the optimizer keeps the learning rate of the old schedule (0 at the end
    of a finished linear run) until the scheduler's next step, so the first resumed step trained
    at lr 0. This sets each group's lr from the new schedule at the checkpoint's step, once the
    states are loaded (on_train_begin comes after them)."""
    from transformers import TrainerCallback

    class RescheduledLr(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
            lambdas = getattr(lr_scheduler, "lr_lambdas", None)
            if optimizer is None or not lambdas:
                return control
            step = lr_scheduler.last_epoch
            lrs = [base * fn(step) for base, fn in zip(lr_scheduler.base_lrs, lambdas, strict=True)]
            for group, lr in zip(optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
            lr_scheduler._last_lr = lrs
            return control

    if not any(type(cb).__name__ == "RescheduledLr" for cb in trainer.callback_handler.callbacks):
        trainer.add_callback(RescheduledLr())


def last_eval_step(log_history: list | None) -> int | None:
    """The global step of the last eval in a Trainer's log_history (an entry with eval_ metrics:
    Trainer.evaluate logs eval_loss, eval_runtime, ... with the step), or None before any."""
    for entry in reversed(log_history or []):
        if isinstance(entry, dict) and any(str(k).startswith("eval_") for k in entry):
            step = entry.get("step")
            return step if isinstance(step, int) else None
    return None


def evaluated_last_step(trainer) -> bool:
    """Whether the Trainer has evaluated at the step it stopped at (torch-free).

    From its log_history, which every rank keeps alike and a resume restores from the checkpoint
    (load_finished too), not from `global_step % eval_steps`: transformers 5 evaluates at an
    off-cadence final step itself (DefaultFlowCallback.on_step_end), older versions did not, and
    a finished checkpoint whose final eval a signal cut short (save_stopped_eval) has none."""
    state = trainer.state
    return last_eval_step(state.log_history) == state.global_step


def save_stopped_eval(trainer) -> None:
    """Checkpoint the step whose eval a signal cut short (unless it is already complete).

    An eval runs after its optimizer step, before that step's save: the weights, optimizer and
    scheduler are those of a finished step, so the Trainer's own save is a consistent checkpoint.
    The callbacks' on_save marks it complete, as after any save.
    """
    step = trainer.state.global_step
    path = Path(trainer.args.output_dir) / f"checkpoint-{step}"
    if step <= 0 or Checkpoint(path, step).complete:
        return
    trainer._save_checkpoint(trainer.model_wrapped or trainer.model, None)
    trainer.control = trainer.callback_handler.on_save(trainer.args, trainer.state, trainer.control)
