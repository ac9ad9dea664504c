"""Where a run starts: the checkpoint a `--resume` continues, or a clean output folder (torch-free).

- `--resume`: the newest checkpoint that passes forge.train.integrity (each one skipped is
  named); its fingerprint must match (data, model, batch) unless `--force`; the history is cut
  back to its step. The run keeps the `run_id` and `started_at` of the run it continues (the
  status contract), read from the run file beside the checkpoints.
- a fresh run over complete checkpoints: refused without `--force`; with it, the previous run is
  set aside (forge.train.previous_run) and deleted only once the new run has its first complete
  checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from forge.errors import EXIT_FAIL, EXIT_USAGE, ForgeError
from forge.records.train import read_history, write_history
from forge.train.checkpoints import Checkpoint, list_checkpoints
from forge.train.previous_run import PreviousRun
from forge.train.resolved import check_resume, read_run_file


@dataclass
class StartPoint:
    checkpoint: Checkpoint | None = None
    run_id: str | None = None  # of the run resumed (kept); None: this is a new run
    started_at: str | None = None
    fingerprint: dict | None = None  # the resumed run's (kept in the run file)


def resumed_identity(output_dir: Path) -> tuple[str | None, str | None]:
    """(run_id, started_at) of the run whose checkpoints are in output_dir, where its run file says."""
    saved = read_run_file(output_dir)
    return (saved.run_id, saved.started_at) if saved else (None, None)


def start_point(
    output_dir: Path,
    history_file: Path,
    *,
    resume: bool,
    force: bool,
    fp: dict,
    log: logging.Logger,
    is_main: bool,
    previous: PreviousRun,
) -> StartPoint:
    from forge.train.integrity import cleanup, newest_valid

    if resume:
        # only a checkpoint forge marked complete and whose files pass integrity.problem; each one skipped is named
        ckpt = newest_valid(output_dir, warn=log.warning)
        if ckpt is None and list_checkpoints(output_dir) and not force:
            raise ForgeError(
                f"--resume: no valid checkpoint in {output_dir} (every one is torn or corrupted, see the warnings above)",
                "pass --force with --resume to start over from step 0, or restore a checkpoint",
                exit_code=EXIT_FAIL,
                kind="no_valid_checkpoint",
            )
        if ckpt is not None:  # refused before anything is cleaned: a refused resume changes nothing
            check_resume(output_dir, fp, force, log.warning)
        if is_main:
            cleanup(output_dir, ckpt, log.warning)  # torn folders, checkpoints newer than ckpt, temporary files
        if ckpt is None:
            log.warning("--resume: no complete checkpoint in %s; starting from step 0", output_dir)
            if is_main:
                reset_history(history_file, None)
            return StartPoint()
        log.info("resuming from %s (step %d)", ckpt.path, ckpt.step)
        if is_main:
            reset_history(history_file, ckpt.step)
        saved = read_run_file(output_dir)
        return StartPoint(
            ckpt,
            saved.run_id if saved else None,
            saved.started_at if saved else None,
            (saved.fingerprint or None) if saved and not force else None,
        )
    existing = list_checkpoints(output_dir)
    complete = [c for c in existing if c.complete]
    if complete and not force:
        raise ForgeError(
            f"{output_dir} holds checkpoints of an earlier run (newest: {complete[-1].path.name})",
            "continue it with --resume, or pass --force to start over (the earlier run is kept until the new "
            "one has its first checkpoint)",
            exit_code=EXIT_USAGE,
            kind="usage",
        )
    if not is_main:
        return StartPoint()
    if complete:  # --force: kept aside until this run proves itself, never deleted before it validated
        previous.set_aside()
    cleanup(output_dir, None, log.warning)  # incomplete checkpoints set aside; temporary and half-deleted leftovers go
    reset_history(history_file, None)
    return StartPoint()


def reset_history(path: Path, keep_through_step: int | None) -> None:
    """A fresh run starts an empty history; a resumed one drops what came after its checkpoint."""
    rows = [] if keep_through_step is None else [r for r in read_history(path) if r.step <= keep_through_step]
    write_history(path, rows)
