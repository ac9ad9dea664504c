"""What kind of failure an unexpected exception is, and its fix (torch-free).

A CUDA OOM is recognised by forge.train.oom's detector (one detector, one fix: the original
troubleshooting table's), a full disk by errno; anything else is `internal`: forge did not expect
it, so its fix is the log's traceback, and the setting of training-config.json the error's words
name, if any.

`--resume` is suggested only where it can get past the failure and has something to continue:
a full disk (once space is freed) and an OOM (with a smaller micro-batch, the same effective
batch), and only when this run has a complete checkpoint. An internal error is not among them: a
resume continues with the run's recorded settings, so the same setting would fail the same way
(QA: `lr_scheduler_type=cosine_with_min_lr` without its min_lr failed before any step, and the fix
said "rerun with --resume to continue from the last checkpoint", of which there was none).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived before training began: nothing to checkpoint."""


DISK_FULL_FIX = (
    "free disk space where the project lives (old checkpoints in outputs/, merged models), or point "
    "training.output_dir / save paths at a larger disk (the last complete checkpoint and the previous "
    "adapter are intact)"
)
LOG = "logs/training.log"


def classify(
    e: BaseException, checkpoint: str | Path | None = None, log: str = LOG, config: str = "training-config.json"
) -> tuple[str, str]:
    """(error_kind, fix) of an exception that is not a ForgeError. `checkpoint`: this run's newest
    complete checkpoint (as the user would name it, e.g. outputs/checkpoint-40), None if it has
    none; `log`: where the traceback is; `config`: the config file the run read, as fixes name it."""
    from forge.train.oom import ORIGINAL_FIX, is_oom

    if any(isinstance(x, OSError) and x.errno == errno.ENOSPC for x in (e, e.__cause__, e.__context__)):
        return "disk_full", f"{DISK_FULL_FIX}; then {rerun(checkpoint)}"
    if is_oom(e):
        if checkpoint is None:
            return "oom", f"{ORIGINAL_FIX}; then rerun `forge train`"
        return "oom", (
            f"{ORIGINAL_FIX}. A smaller micro-batch with the same effective batch continues this run from "
            f"{checkpoint}: `forge train --resume --set training.per_device_train_batch_size=N --set "
            "training.gradient_accumulation_steps=M`; the other changes start a new run (`forge train --force`)"
        )
    return "internal", internal_fix(f"{type(e).__name__}: {e}", checkpoint, log, config)


def rerun(checkpoint: str | Path | None) -> str:
    """The command that retries a run once its cause is fixed."""
    if checkpoint is None:
        return "rerun `forge train` (this run saved no checkpoint to resume from)"
    return f"rerun with `forge train --resume`: it continues from {checkpoint}"


def internal_fix(
    error: str, checkpoint: str | Path | None = None, log: str = LOG, config: str = "training-config.json"
) -> str:
    """The fix of an error forge did not expect: the setting its words name, else a bug report."""
    named = named_settings(error)
    kept = f"; {checkpoint} is kept" if checkpoint is not None else ""
    if named:
        keys = ", ".join(named)
        return (
            f"the error names {keys}: check {'that setting' if len(named) == 1 else 'those settings'} in "
            f"{config} (`forge schema` documents each key), then rerun `forge train`; if "
            f"{'it is' if len(named) == 1 else 'they are'} right, report this as a bug with {log} (it holds the "
            f"traceback){kept}"
        )
    return (
        f"forge did not expect this error: report it as a bug with {log}, which holds the traceback{kept}; "
        "a resume would continue with the same settings"
    )


def named_settings(text: str) -> list[str]:
    """The section.key of every training-config.json key the text names (learning_rate,
    `lr_scheduler_kwargs`, ...): keys spelt with an underscore only, as plain words ("model",
    "name", "r") would match anything."""
    from pydantic import BaseModel

    from forge.config import ForgeConfig

    found = []
    for section, field in ForgeConfig.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key in model.model_fields:
            if "_" in key and re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text):
                found.append(f"{section}.{key}")
    return found


def run_checkpoint(output_dir: Path, root: Path) -> str | None:
    """The newest complete checkpoint in output_dir as a user names it (outputs/checkpoint-40;
    absolute outside the project), None when there is none. Asked while a run fails, before a
    `--force`d run's predecessor is moved back: what is there then is this run's."""
    from forge.train.checkpoints import newest_complete

    ckpt = newest_complete(output_dir)
    if ckpt is None:
        return None
    try:
        return str(ckpt.path.relative_to(root))
    except ValueError:
        return str(ckpt.path)
