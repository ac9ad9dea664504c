"""What kind of failure an unexpected exception is, and its fix (torch-free).

A CUDA OOM is recognised by forge.train.oom's detector (one detector, one fix: the original
troubleshooting table's), a full disk by errno; anything else points at the log.
"""

from __future__ import annotations

import errno


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived before training began: nothing to checkpoint."""


DISK_FULL_FIX = (
    "free disk space where the project lives (old checkpoints in outputs/, merged models), or point "
    "training.output_dir / save paths at a larger disk; then rerun with --resume (the last complete "
    "checkpoint and the previous adapter are intact)"
)
OTHER_FIX = "see logs/training.log for the traceback; rerun with --resume to continue from the last checkpoint"


def classify(e: BaseException) -> tuple[str, str]:
    """(error_kind, fix) of an exception that is not a ForgeError."""
    from forge.train.oom import ORIGINAL_FIX, is_oom

    if any(isinstance(x, OSError) and x.errno == errno.ENOSPC for x in (e, e.__cause__, e.__context__)):
        return "disk_full", DISK_FULL_FIX
    if is_oom(e):
        return "oom", f"{ORIGINAL_FIX}; then rerun with --resume"
    return "error", OTHER_FIX
