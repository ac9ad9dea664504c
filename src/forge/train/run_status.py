"""What every `forge train` writes first and last: the run's identity, the log's header line, the
opening status, the failure, and `refuse` (a train refused before its Recipe could run).

The Recipe and `refuse` write through these, so that a refusal reads the same in the log and the
status wherever it came from.
"""

from __future__ import annotations

import logging
import os

from forge.clock import utcnow
from forge.config import ForgeConfig
from forge.errors import ForgeError
from forge.hints import name_folder
from forge.lock import ProjectLock
from forge.project import Project
from forge.runs_log import new_run_id  # the one run id format (train's, and the other verbs')
from forge.train.run_log import close_log, open_log


def run_identity(output_dir, *, resume: bool) -> tuple[str, str]:
    """(run_id, started_at): a new run's; a --resume keeps those of the run whose checkpoints are in
    output_dir, where its run file says (the status contract)."""
    run_id, started_at = new_run_id(), utcnow()
    if resume and output_dir is not None:
        from forge.train.resume import resumed_identity

        old_id, old_start = resumed_identity(output_dir)
        run_id, started_at = old_id or run_id, old_start or started_at
    return run_id, started_at


def log_header(log: logging.Logger, run_id: str, project: Project) -> None:
    log.info("=" * 20 + " forge train %s (pid %d) in %s", run_id, os.getpid(), project.root)


def open_status(project: Project, world, run_id: str, started_at: str, cfg: ForgeConfig | None):
    """The run's status writer, its first document written: this run's status replaces the last
    one's, and what that one ended as stays on record (`extra.previous_run`), so that a run refused
    before it starts (old checkpoints, bad data, a --resume's --set) does not hide a finished one."""
    before = previous_run_summary(project.status_file) if world.is_main else None
    status = world.status_writer(
        project.status_file,
        running=True,
        phase="validating",
        run_id=run_id,
        pid=os.getpid(),
        started_at=started_at,
        model=cfg.model.name if cfg is not None else None,
        total_epochs=cfg.training.num_train_epochs if cfg is not None else 0,
    )
    status.update(**({"previous_run": before} if before else {}))
    return status


def record_failure(
    project: Project, world, log: logging.Logger, status, message: str, kind: str, fix, *, refused: bool = False
) -> None:
    """The log line and the final status of a run that failed, or was `refused` before it started
    (`extra.refused`: the next run's `previous_run` then looks past it, see previous_run_summary)."""
    # the log is read from anywhere, as the status is: its command hints name the folder alike
    message, fix = (name_folder(t, project.root, absolute=True) for t in (message, fix))
    # not echoed to the console: the CLI prints the error and its fix itself
    log.error("failed (%s): %s%s", kind, message, f"\nfix: {fix}" if fix else "", extra={"console": False})
    if not world.is_main:  # the launcher puts it into the status (rank 0 is the one writer)
        world.write_rank_error(project, message, kind, fix)
    try:
        status.phase("failed", error=message, error_kind=kind, solution=fix, **({"refused": True} if refused else {}))
    except OSError:
        pass


def refuse(project: Project, error: ForgeError, *, cfg: ForgeConfig | None = None, resume: bool = False, world=None):
    """Record a `forge train` refused before its Recipe could run (its config or --set, a --resume's
    --set, the launch options) as the Recipe records a refusal of its own: under the project lock, a
    header and a `failed (kind)` line in logs/training.log, and a "failed" status with the error,
    its kind and fix, the run before kept under `extra.previous_run`.

    `cfg`: the config file's (None when it does not load): what the status names, and where a
    --resume finds the run it meant to continue (whose run_id the status then keeps, as the Recipe
    does). Nothing else on disk is touched (a killed --force's `.previous-run/` waits for the next
    run that starts). Another verb holding the lock: nothing is written, its status and log are its
    own; the caller raises `error` either way."""
    from forge.lock import LockHeld
    from forge.train.distributed import World

    world = world or World.current()
    if world.launched and world.is_main:
        world.write_exit(project, error.exit_code)
    if not world.is_main:
        world.write_rank_error(project, error.message, error.kind, error.fix)
        return
    try:
        lock = ProjectLock(project.lock_file, "train").acquire()
    except (LockHeld, OSError):
        return
    try:
        output_dir = project.path(cfg.training.output_dir) if cfg is not None else None
        run_id, started_at = run_identity(output_dir, resume=resume)
        log = open_log(project.log_file, None)
        try:
            log_header(log, run_id, project)
            status = open_status(project, world, run_id, started_at, cfg)
            record_failure(project, world, log, status, error.message, error.kind, error.fix, refused=True)
        finally:
            close_log(log)
    except OSError:  # a read-only project: the refusal is still printed
        pass
    finally:
        lock.release()


def previous_run_summary(status_file) -> dict | None:
    """What the last run ended as, from the status file this run replaces: its run_id, phase, steps
    and times; None when there was none or it had not ended (a live or crashed run's status).

    The same run_id is the attempt before of the run a --resume continues (an interrupted run, or
    a finished one trained further): kept as well, so that a refused --resume does not hide it. A
    status that records a refusal (`extra.refused`: nothing of that call ran) hands on the run it
    kept in turn, so that refusals in a row do not hide the run before them either (the log keeps
    every refusal)."""
    from forge.status import FINAL_PHASES, read_status

    old = read_status(status_file)
    if not old.run_id or old.phase not in FINAL_PHASES:
        return None
    keep = ("run_id", "phase", "step", "total_steps", "started_at", "completed_at", "error")
    started = ("config_source", "paths")  # how a plain --resume finds its checkpoints (verb_config.started_run)
    kept = old.extra.get("previous_run")
    if old.phase == "failed" and old.extra.get("refused") is True and isinstance(kept, dict) and kept.get("run_id"):
        return {k: kept[k] for k in (*keep, *started) if kept.get(k) is not None}
    out = {k: getattr(old, k) for k in keep if getattr(old, k) is not None}
    return out | {k: old.extra[k] for k in started if old.extra.get(k) is not None}
