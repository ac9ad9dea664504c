"""The training recipe: one class whose phases read top to bottom, as torchtune's recipes read.

    run():    lock -> status -> setup -> fit -> save -> finish     (failures: status + restore)
    setup():  validate data -> backend -> start point (resume / --force) -> load model
              -> tokenize -> plan -> run file -> trainer
    fit():    trainer.train under the OOM backoff; a signal checkpoints the last finished step
    save():   adapter swapped in -> merged model swapped in -> stats -> loss plot
    finish(): export (save.gguf_path) -> status "done"

Why this order:
- the lock comes before the status file is touched: a refused second run must leave the
  running one's status and log alone;
- the data is validated before any model loads: bad data should cost a second, not a load;
- a `--force`d previous run is only set aside (forge.train.previous_run), and goes once this run
  has its first complete checkpoint; any failure before that puts it back;
- the adapter is written into a temporary sibling and swapped in only once complete, so a kill
  leaves the previous adapter or the new one, never half of one.

One object owns the config that trains: `self.settings` (RunSettings). The data-parallel division,
the OOM backoff and resume change it; the backend reads it (Backend.cfg is a view of it); the run
file and the stats are written from it, so they record what actually ran. The World
(forge.train.distributed) says whether this process is rank 0, the one writer of the status, log,
history and outputs.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from forge.clock import utcnow
from forge.config import ForgeConfig
from forge.errors import EXIT_FAIL, EXIT_OK, ForgeError
from forge.files import clean_stale_temp_files
from forge.lock import ProjectLock
from forge.project import Project
from forge.records.base import write_record
from forge.status import Status
from forge.train.checkpoints import newest_complete
from forge.train.failures import Interrupted, classify, run_checkpoint
from forge.train.previous_run import PreviousRun
from forge.train.run_log import NotifyingStatus, close_log, open_log
from forge.train.run_status import (
    log_header,
    new_run_id,
    open_status,
    previous_run_summary,
    record_failure,
    refuse,
    run_identity,
)
from forge.train.runs_entry import RunLines
from forge.train.settings import RunSettings
from forge.train.signals import StopRequest

# what callers imported from here before forge.train.run_status held them
__all__ = ["Recipe", "RunResult", "train", "new_run_id", "previous_run_summary", "refuse", "run_identity"]


@dataclass
class RunResult:
    exit_code: int
    status: Status
    stats: dict = field(default_factory=dict)


class Recipe:
    def __init__(
        self,
        project: Project,
        cfg: ForgeConfig,
        *,
        backend: str | None = None,
        resume: bool = False,
        force: bool = False,
        progress: Callable[[Status], None] | None = None,
        console_handler: logging.Handler | None = None,
        callbacks: list | None = None,
        world=None,
        source: dict | None = None,
    ):
        from forge.train.distributed import World

        self.project, self.backend_name, self.resume, self.force = project, backend, resume, force
        self.source = source  # the config file and --set the run read (training-stats.json, forge.config.verb_config)
        self.progress, self.console_handler, self.extra_callbacks = progress, console_handler, callbacks
        self.world = world or World.current()
        self.settings = RunSettings(cfg, self.world.world_size)
        self.output_dir = project.path(cfg.training.output_dir)
        self.previous = PreviousRun(self.output_dir, project.history_file)
        self.stop = StopRequest()
        self.t0 = time.time()
        self.run_id, self.started_at = new_run_id(), utcnow()
        self.start = None  # forge.train.resume.StartPoint
        self.trainer = self.callback = self.backend = self.model = self.tokenizer = None
        self.log: logging.Logger | None = None

    # ------------------------------------------------------------------------------------ run
    def run(self) -> RunResult:
        main = self.world.is_main
        # The lock first: a refused second run must leave the running one's status and log alone.
        lock = ProjectLock(self.project.lock_file, "train").acquire() if main else None
        try:
            if lock:  # the lock holder is the only writer: a killed run's half-written files can go
                for folder in (self.project.metrics_dir, self.project.factory_dir):
                    clean_stale_temp_files(folder)
                self.previous.recover()  # a forced run killed before its first checkpoint
            self._open(lock)
            lines = RunLines(self)  # metrics/runs.jsonl: the start line now, the end line however it ends
            try:
                return lines.ended(self._phases())
            finally:
                lines.close()
                self.stop.restore()
                if self.log is not None:
                    close_log(self.log)
        finally:
            if lock:
                lock.release()

    def _open(self, lock) -> None:
        """The log and the status of the run (a resume keeps the run_id and started_at it continues)."""
        p = self.project
        self.log = open_log(p.log_file, self.console_handler) if self.world.is_main else self.world.rank_logger()
        self.previous.log = self.log.info
        if self.resume:
            self.run_id, self.started_at = run_identity(self.output_dir, resume=True)
        # the run's header first: what follows (a resume's notes, the batch split) belongs to it
        log_header(self.log, self.run_id, p)
        self.settings.divide_for_world(self.world, self.log)
        cfg = self.settings.cfg
        self.status = open_status(p, self.world, self.run_id, self.started_at, cfg)
        if self.source is not None and self.world.is_main:
            # on record from the start: `forge train --resume` finds an interrupted run's checkpoints by
            # it (forge.config.verb_config.started_run), as export/verify/evaluate find a finished run's by the stats
            from forge.config.source import paths_record

            self.status.update(config_source=self.source, paths=paths_record(cfg))
        self.stop.install()
        if self.progress is not None:
            self.status = NotifyingStatus(self.status, self.progress)
        if lock and lock.previous_pid:
            self.log.info("took over the lock left by pid %d (no longer running)", lock.previous_pid)

    def _phases(self) -> RunResult:
        try:
            self.setup()
            stopped = self.fit()
            if stopped is not None:
                return stopped
            if not self.world.is_main:  # rank 0 saves the adapter, the merged model and the stats
                return RunResult(EXIT_OK, self.status.status, {"rank": self.world.rank})
            stats = self.save()
            return self.finish(stats)
        except Interrupted:
            self._interrupted(f"{self.stop.name} before training started; nothing to resume")
            return RunResult(self.stop.exit_code, self.status.status)
        except KeyboardInterrupt:  # a second signal
            self._interrupted("stopped at once; resume from the newest complete checkpoint")
            return RunResult(self.stop.exit_code if self.stop.requested else 130, self.status.status)
        except ForgeError as e:
            self._fail(e.message, e.kind, e.fix, refusal=True)
            raise
        except Exception as e:
            kind, fix = classify(  # --resume only with one; the config file the run read
                e, run_checkpoint(self.output_dir, self.project.root), config=self._config_name()
            )
            self.log.error("unexpected error:\n%s", traceback.format_exc())
            self._fail(f"{type(e).__name__}: {e}", kind, fix)
            raise ForgeError(f"training failed: {type(e).__name__}: {e}", fix, exit_code=EXIT_FAIL, kind=kind) from e

    def _config_name(self) -> str:
        """The config file this run read, as fixes name it (training-config.json, exp1.json)."""
        src = self.source if isinstance(self.source, dict) else {}
        name = src.get("file") or "training-config.json"
        return f"{name} + --set" if src.get("overrides") else name

    # ------------------------------------------------------------------------------------ setup
    def setup(self) -> None:
        from forge.train.backends import select_backend
        from forge.train.prepare import tokenize, validate_data
        from forge.train.resolved import fingerprint
        from forge.train.resume import start_point
        from forge.train.run_log import quiet_libraries

        s, log, status = self.settings, self.log, self.status
        # data first: bad data should cost a second, not a model load
        self.splits = validate_data(self.project, s, log)
        # the backend before the resolver: Unsloth patches transformers / TRL / PEFT when imported
        # and runs slower where they came first, and the resolver loads the tokenizer (transformers)
        self.backend = select_backend(self.world.backend_name(self.backend_name, log), s, log, self.output_dir)
        status.update(backend=self.backend.name)
        quiet_libraries()  # imports transformers and datasets: after the backend for that reason
        # then the one resolver (forge.plan.for_run), still before any weights load: what `forge
        # check` refused, this refuses with the same words; its "auto" values are what trains
        from forge.plan.for_run import resolve_for_run, run_config

        self.resolution = resolve_for_run(
            s.cfg,
            self.splits.train_convs,
            self.splits.val_convs,
            log=log,
            world_size=s.world_size,
            project=self.project,  # relative output paths are checked under the project, as check does
        )
        self.fp = fingerprint(s.cfg, self.splits.train_path, self.splits.val_path, s.world_size)
        s.cfg = run_config(self.resolution, s.cfg)  # after the fingerprint: it keeps the config as written
        self.start = start_point(
            self.output_dir,
            self.project.history_file,
            resume=self.resume,
            force=self.force,
            fp=self.fp,
            log=log,
            is_main=self.world.is_main,
            previous=self.previous,
        )
        if self.resume and self.start.checkpoint is None:  # nothing to continue: a new run after all
            self.run_id, self.started_at = new_run_id(), utcnow()
            status.update(run_id=self.run_id, started_at=self.started_at)
        resumed = self.start.checkpoint.path.name if self.start.checkpoint else None
        status.update(resumed_from=resumed)
        self._check_stop()

        status.phase("loading")
        self.model, self.tokenizer = self.backend.load()
        self._check_stop()

        status.phase("preparing")
        self.data = tokenize(s, self.tokenizer, self.splits, log)
        n_val = len(self.data.val)
        self.plan = self.backend.plan(len(self.data.train), n_val)
        if n_val < self.data.val_total:
            status.update(eval_samples=n_val, val_samples=self.data.val_total)  # in `extra`
        import json

        log.info("resolved config:\n%s", json.dumps(s.cfg.to_json_dict(), indent=2))
        log.info("plan: %s", json.dumps(self.plan.to_dict()))
        self.write_run_file()
        self.train_ds = self.backend.prepare_dataset(self.data.train)
        self.eval_ds = self.backend.prepare_dataset(self.data.val) if self.data.val else None

        from forge.train.callbacks import callbacks_of

        self.callback, self.callbacks = callbacks_of(self, n_val if self.eval_ds is not None else 0)
        status.update(total_steps=self.plan.total_steps)
        self.trainer = self.make_trainer()
        self._check_stop()

    def make_trainer(self):
        """A trainer from the settings as they are now (the OOM backoff calls it again after a change)."""
        from forge.train.run_log import quiet_trainer

        b = self.backend
        return quiet_trainer(
            b.make_trainer(self.model, self.tokenizer, self.train_ds, self.eval_ds, self.plan, self.callbacks)
        )

    def write_run_file(self) -> None:
        """outputs/forge-run.json from the settings as they are now: rewritten after an OOM retry."""
        if self.world.is_main:
            from forge.train.resolved import run_file_of, write_run_file

            write_run_file(self.output_dir, run_file_of(self))

    def _check_stop(self) -> None:
        if self.stop.requested:
            raise Interrupted()

    # ------------------------------------------------------------------------------------ fit
    def fit(self) -> RunResult | None:
        """Train; None when training finished, else the RunResult of a stop by signal."""
        from forge.train.callbacks import EvalStopped
        from forge.train.fit import fit_once, save_stopped_eval
        from forge.train.oom import fit_with_backoff

        try:
            # CUDA OOM: forge.train.oom halves the micro-batch in self.settings, rebuilds and resumes
            self.trainer = fit_with_backoff(
                self.trainer,
                settings=self.settings,
                rebuild=self.make_trainer,
                fit=fit_once,
                checkpoint=self.start.checkpoint,
                output_dir=self.output_dir,
                log=self.log,
                status=self.status,
                on_retry=self.write_run_file,
            )
            if self.final_eval_missing():
                self.trainer.evaluate()  # the last eval came before the end: stats carry the final model's
        except EvalStopped:  # a signal during the final eval (fit_once handles those inside train())
            save_stopped_eval(self.trainer)
        if self.callback.stopped_by_signal_at is None:
            return None
        self.previous.restore()  # no-op once this run has a complete checkpoint
        newest = newest_complete(self.output_dir)
        where = str(newest.path.relative_to(self.project.root)) if newest else "none"
        message = f"checkpoint {where}; continue with `forge train --resume`"
        # extra.signal: `forge status --wait` exits 130 or 143 by it
        self.status.phase("interrupted", error_kind="interrupted", signal=self.stop.name, message=message)
        step = self.trainer.state.global_step
        self.log.warning("interrupted by %s at step %d; resume from %s", self.stop.name, step, where)
        return RunResult(self.stop.exit_code, self.status.status, {"interrupted_at": step, "checkpoint": where})

    def final_eval_missing(self) -> bool:
        """Whether the trained model's last step has no eval yet, so fit runs one: decided from the
        Trainer's own record (forge.train.fit.evaluated_last_step), not from the cadence. A run
        stopped by a signal is not evaluated: it checkpoints and exits, and writes no stats."""
        from forge.train.fit import evaluated_last_step

        if self.eval_ds is None or not self.plan.eval_steps:
            return False
        if self.callback is not None and self.callback.stopped_by_signal_at is not None:
            return False
        return not evaluated_last_step(self.trainer)

    # ------------------------------------------------------------------------------------ save
    def save(self) -> dict:
        """The adapter, the merged model (each swapped in whole), then the stats and the loss plot."""
        from forge.train.plots import plot_loss
        from forge.train.report import build_stats
        from forge.train.saving import save_models

        self.status.phase("saving")
        save_models(self)
        stats = build_stats(self)
        write_record(self.project.training_stats_file, stats)
        cfg = self.settings.cfg
        plot_loss(self.project.history_file, self.project.loss_plot_file, title=f"{cfg.model.name} ({self.run_id})")
        return stats.to_data()

    # ------------------------------------------------------------------------------------ finish
    def finish(self, stats: dict) -> RunResult:
        from forge.train.saving import export_after_training, wants_export

        if wants_export(self.settings.cfg):
            export_after_training(self)
        self.status.phase(
            "done",
            step=self.trainer.state.global_step,
            loss=stats.get("final_loss"),
            eval_loss=stats.get("eval_loss"),
            eta_seconds=0,
            completed_at=stats["completed_at"],
        )
        self.log.info(
            "done: %d steps, final loss %s, eval loss %s", stats["total_steps"], stats["final_loss"], stats["eval_loss"]
        )
        return RunResult(EXIT_OK, self.status.status, stats)

    # ------------------------------------------------------------------------------------ failure
    def _stop_watch(self) -> None:
        if self.callback is not None:
            self.callback.stop_watch()

    def _interrupted(self, message: str) -> None:
        self._stop_watch()
        self.previous.restore()  # no-op once this run has a complete checkpoint
        self.status.phase("interrupted", error_kind="interrupted", message=message, signal=self.stop.name or "SIGINT")
        self.log.warning("%s", message)

    def _fail(self, message: str, kind: str, fix: str | None, refusal: bool = False) -> None:
        self._stop_watch()
        self.previous.restore()  # a failure before this run's first checkpoint gives the old run back
        # refused before any weights loaded (data, resolver, start point): nothing of this run happened
        refused = refusal and self.status.status.phase == "validating"
        record_failure(self.project, self.world, self.log, self.status, message, kind, fix, refused=refused)


def train(
    project: Project,
    cfg: ForgeConfig,
    *,
    backend: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[Status], None] | None = None,
    console_handler: logging.Handler | None = None,
    callbacks: list | None = None,
    source: dict | None = None,
) -> RunResult:
    """One `forge train` run (commands/train.py calls this): the Recipe's phases, in order."""
    return Recipe(
        project,
        cfg,
        backend=backend,
        resume=resume,
        force=force,
        progress=progress,
        console_handler=console_handler,
        callbacks=callbacks,
        source=source,
    ).run()
