"""`forge stop`: stop the verb that holds the project lock the way SIGTERM does (torch-free).

Only the process named in the lock file, and only while it is alive and holds the lock, is
signalled: never a pid from the status file (a pid reused by another program), never a process
group. A train stops at the next step boundary with a checkpoint and phase `interrupted`
(forge.train.signals); export, baseline and evaluate stop at once, keeping what they completed
(forge.interrupts). The stop then waits, bounded, until the lock is let go, and reports the
checkpoint a `forge train --resume` continues from.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from forge.errors import EXIT_FAIL, ForgeError
from forge.project import Project

STOP_TIMEOUT = 300.0  # a step in flight finishes first, then the checkpoint is written


class NothingRunning(ForgeError):
    exit_code = EXIT_FAIL
    kind = "not_running"


def stop_run(project: Project, timeout: float = STOP_TIMEOUT, interval: float = 0.2) -> dict[str, Any]:
    """SIGTERM to the lock holder, then wait for the lock; the document `forge stop --json` prints."""
    from forge.lock import holder

    held = holder(project)
    if held is None:
        raise NothingRunning(
            f"nothing to stop in {project.root}: no forge process holds the project lock",
            "`forge runs` lists how each run ended; `forge status` shows the last one",
        )
    pid, verb = held
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:  # it ended between the look and the signal: the lock is free
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = holder(project)
        if now is None or now[0] != pid:
            break
        time.sleep(interval)
    else:
        raise ForgeError(
            f"forge {verb or 'process'} (pid {pid}) got SIGTERM but still holds the project lock after {timeout:g} s",
            "it may be finishing a long step or a save: `forge status --wait` waits for "
            f"it; `kill -9 {pid}` stops it now (the newest complete checkpoint is kept)",
            exit_code=EXIT_FAIL,
            kind="stop_timeout",
        )
    return _report(project, pid, verb)


def _report(project: Project, pid: int, verb: str | None) -> dict[str, Any]:
    from forge.control.history import last_end
    from forge.control.outcome import outcome_code
    from forge.hints import folder_arg
    from forge.web.readers import status_view

    end = last_end(project, verb or "train")
    view = status_view(project)
    out: dict[str, Any] = {
        "ok": True,
        "project": str(project.root),
        "stopped": {"pid": pid, "verb": verb, "signal": "SIGTERM"},
        "run_id": end.run_id if end else None,
        "outcome": end.outcome if end else None,
        "checkpoint": end.checkpoint if end else None,
        "resume": None,
    }
    if verb in (None, "train"):
        out["run_id"] = view.get("run_id") or out["run_id"]
        out["outcome"] = view.get("effective_phase")
        out["exit_code"] = outcome_code(view)
        if out["checkpoint"]:
            out["resume"] = f"forge train{folder_arg(project.root, absolute=True)} --resume"
        out["status"] = view
    elif end is not None:
        out["exit_code"] = end.exit_code
    return out
