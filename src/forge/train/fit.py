"""The one call that trains, which the OOM backoff wraps (torch via the trainer).

`fit_once` resumes from a checkpoint (or loads one already at the last step), and turns a
signal during an eval (EvalStopped, raised by the callback at the next eval batch) into a
checkpoint at the last finished optimizer step, so that the run stops within seconds and
`--resume` continues from there.
"""

from __future__ import annotations

from pathlib import Path

from forge.train.checkpoints import Checkpoint


def fit_once(trainer, checkpoint: Checkpoint | None):
    from forge.train.callbacks import EvalStopped
    from forge.train.integrity import finished, load_finished, planned_steps

    if checkpoint is not None and finished(checkpoint.path, planned_steps(trainer)):  # killed after the last step
        return load_finished(trainer, checkpoint.path)
    try:
        return trainer.train(resume_from_checkpoint=str(checkpoint.path) if checkpoint else None)
    except EvalStopped:
        save_stopped_eval(trainer)
        return None


def save_stopped_eval(trainer) -> None:
    """Checkpoint the step whose eval a signal cut short (unless it is already complete).

    An eval runs after its optimizer step, before that step's save: the weights, optimizer and
    scheduler are those of a finished step, so the Trainer's own save is a consistent checkpoint.
    The callbacks' on_save marks it complete, as after any save.
    """
    from forge.train.checkpoints import Checkpoint

    step = trainer.state.global_step
    path = Path(trainer.args.output_dir) / f"checkpoint-{step}"
    if step <= 0 or Checkpoint(path, step).complete:
        return
    trainer._save_checkpoint(trainer.model_wrapped or trainer.model, None)
    trainer.control = trainer.callback_handler.on_save(trainer.args, trainer.state, trainer.control)
