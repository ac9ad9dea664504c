"""The training recipe: setup -> train -> save, with the status, the log and recovery beside it.

    lock -> validate data -> pick backend -> resume check -> load model -> tokenize + plan
         -> train (SFTTrainer + ForgeCallback) -> save adapter (swap in) -> merged -> stats, plot

Ordering matters in a few places, each commented where it happens: the lock comes before the
status file is touched (a refused second run must not overwrite the first one's status); the data
is validated before any model is loaded (bad data should cost a second, not a model load); the
adapter is written to a temporary sibling and swapped in only once complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from forge.clock import utcnow
from forge.config import ForgeConfig
from forge.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE, ForgeError
from forge.files import atomic_write_json, clean_stale_temp_files
from forge.lock import TrainLock
from forge.project import Project
from forge.status import Status, StatusWriter
from forge.train import distributed
from forge.train.checkpoints import Checkpoint, list_checkpoints, newest_complete
from forge.train.resolved import check_resume, fingerprint, read_run_file, write_run_file
from forge.train.signals import StopRequest

LOGGER = "forge.train"


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived before training began: nothing to checkpoint."""


@dataclass
class RunResult:
    exit_code: int
    status: Status
    stats: dict = field(default_factory=dict)


@dataclass
class _Ctx:
    """What the steps of one run share."""

    project: Project
    cfg: ForgeConfig
    log: logging.Logger
    status: StatusWriter
    stop: StopRequest
    run_id: str
    output_dir: Path
    t0: float = field(default_factory=time.time)


# ------------------------------------------------------------------------------------ entry


def train(
    project: Project,
    cfg: ForgeConfig,
    *,
    backend: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[Status], None] | None = None,
    console_handler: logging.Handler | None = None,
) -> RunResult:
    from forge.train import distributed

    # data-parallel (forge.train.distributed): rank 0 alone locks and writes status, log and outputs
    main = distributed.is_main()
    # The lock first: a refused second run must leave the running one's status and log alone.
    lock = TrainLock(project.lock_file).acquire() if main else None
    if lock:  # the lock holder is the only writer: a killed run's half-written JSON files can go
        for folder in (project.metrics_dir, project.factory_dir):
            clean_stale_temp_files(folder)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    log = _open_log(project.log_file, console_handler) if main else distributed.rank_logger(console_handler)
    cfg = distributed.apply_world(cfg, log)
    status = (StatusWriter if main else distributed.SilentStatusWriter)(
        project.status_file,
        running=True,
        phase="validating",
        run_id=run_id,
        pid=os.getpid(),
        started_at=utcnow(),
        model=cfg.model.name,
        total_epochs=cfg.training.num_train_epochs,
    )
    status.update()
    stop = StopRequest().install()
    if progress is not None:
        status = _NotifyingStatus(status, progress)
    ctx = _Ctx(project, cfg, log, status, stop, run_id, project.path(cfg.training.output_dir))
    log.info("=" * 20 + " forge train %s (pid %d) in %s", run_id, os.getpid(), project.root)
    if lock and lock.previous_pid:
        log.info("took over the lock left by pid %d (no longer running)", lock.previous_pid)
    try:
        return _run(ctx, backend, resume, force, progress)
    except Interrupted:
        status.phase("interrupted", message=f"{stop.name} before training started; nothing to resume")
        log.warning("%s before training started: stopped", stop.name)
        return RunResult(stop.exit_code, status.status)
    except KeyboardInterrupt:
        status.phase("interrupted", message="stopped at once; resume from the newest complete checkpoint")
        log.warning("stopped at once (second signal)")
        return RunResult(stop.exit_code if stop.requested else 130, status.status)
    except ForgeError as e:
        _fail(ctx, e.message, e.kind, e.fix)
        raise
    except Exception as e:
        kind, fix = _classify(e)
        log.error("unexpected error:\n%s", traceback.format_exc())
        _fail(ctx, f"{type(e).__name__}: {e}", kind, fix)
        raise ForgeError(f"training failed: {type(e).__name__}: {e}", fix, exit_code=EXIT_FAIL, kind=kind) from e
    finally:
        stop.restore()
        if lock:
            lock.release()
        _close_log(log)


def _run(ctx: _Ctx, backend_name, resume, force, progress) -> RunResult:
    cfg, log, status = ctx.cfg, ctx.log, ctx.status
    _quiet_libraries()

    # ---- setup: data first, because bad data should cost a second, not a model load
    train_convs, val_convs, train_path, val_path = _validate_data(ctx)
    from forge.train.backends import select_backend
    from forge.train.distributed import backend_for_world

    backend = select_backend(backend_for_world(backend_name, log), cfg, log, ctx.output_dir)
    status.update(backend=backend.name)
    fp = fingerprint(cfg, train_path, val_path)
    checkpoint = _resume_point(ctx, resume, force, fp)
    _check_stop(ctx)

    status.phase("loading")
    model, tokenizer = backend.load()
    _check_stop(ctx)

    status.phase("preparing")
    train_examples, train_report, val_examples = _tokenize(ctx, tokenizer, train_convs, val_convs)
    plan = backend.plan(len(train_examples), len(val_examples))
    _log_settings(ctx, backend, plan, train_report)
    (write_run_file if distributed.is_main() else (lambda *a: None))(
        ctx.output_dir,
        {
            "run_id": ctx.run_id,
            "started_at": status.status.started_at,
            "backend": backend.name,
            "resumed_from": str(checkpoint.path) if checkpoint else None,
            "fingerprint": fp
            if not checkpoint or force
            else (read_run_file(ctx.output_dir) or {}).get("fingerprint", fp),
            "plan": plan.to_dict(),
            "config": cfg.to_json_dict(),
        },
    )
    train_ds = backend.prepare_dataset(train_examples)
    eval_ds = backend.prepare_dataset(val_examples) if val_examples else None
    from forge.train.callbacks import ForgeCallback

    callback = ForgeCallback(
        status=status,
        history_path=ctx.project.history_file,
        log=log,
        stop=ctx.stop,
        run_id=ctx.run_id,
        progress=progress,
    )
    status.update(total_steps=plan.total_steps)
    trainer = _quiet(backend.make_trainer(model, tokenizer, train_ds, eval_ds, plan, [callback]))
    _check_stop(ctx)

    # ---- train (CUDA OOM: forge.train.oom halves the micro-batch, rebuilds and resumes)
    from forge.train.oom import fit_with_backoff

    trainer = fit_with_backoff(
        trainer,
        backend=backend,
        rebuild=lambda: _quiet(backend.make_trainer(model, tokenizer, train_ds, eval_ds, plan, [callback])),
        fit=_fit,
        checkpoint=checkpoint,
        output_dir=ctx.output_dir,
        log=log,
        status=status,
    )
    if callback.stopped_by_signal_at is not None:
        newest = newest_complete(ctx.output_dir)
        where = str(newest.path.relative_to(ctx.project.root)) if newest else "none"
        status.phase("interrupted", message=f"checkpoint {where}; continue with `forge train --resume`")
        log.warning("interrupted by %s at step %d; resume from %s", ctx.stop.name, trainer.state.global_step, where)
        return RunResult(
            ctx.stop.exit_code, status.status, {"interrupted_at": trainer.state.global_step, "checkpoint": where}
        )

    if eval_ds is not None and plan.eval_steps and trainer.state.global_step % plan.eval_steps:
        trainer.evaluate()  # the last cadence eval came before the end: stats should carry the final model's

    if not distributed.is_main():  # rank 0 saves the adapter, the merged model and the stats
        return RunResult(EXIT_OK, status.status, {"rank": distributed.rank()})

    # ---- save: the adapter is swapped in only once complete; then merged, stats and plot
    status.phase("saving")
    model = trainer.model
    lora_dir = ctx.project.path(cfg.save.lora_path)
    _save_swapped(lora_dir, ctx.run_id, lambda tmp: backend.save_adapter(model, tokenizer, tmp), _adapter_complete)
    log.info("adapter saved: %s", lora_dir)
    # with save.gguf_path set, the merged model comes from `forge export` below (merged once, verified)
    if cfg.save.merged_path and not cfg.save.gguf_path:
        merged_dir = ctx.project.path(cfg.save.merged_path)
        _save_swapped(merged_dir, ctx.run_id, lambda tmp: backend.save_merged(model, tokenizer, tmp), _merged_complete)
        log.info("merged 16-bit model saved: %s", merged_dir)
    stats = _write_stats(ctx, backend, trainer, plan, train_report, len(train_examples), len(val_examples), checkpoint)
    from forge.train.plots import plot_loss

    plot_loss(ctx.project.history_file, ctx.project.loss_plot_file, title=f"{cfg.model.name} ({ctx.run_id})")
    if cfg.save.gguf_path:
        _export_after_training(ctx, status)
    status.phase(
        "done",
        step=trainer.state.global_step,
        loss=stats.get("final_loss"),
        eval_loss=stats.get("eval_loss"),
        eta_seconds=0,
        completed_at=stats["completed_at"],
    )
    log.info(
        "done: %d steps, final loss %s, eval loss %s", stats["total_steps"], stats["final_loss"], stats["eval_loss"]
    )
    return RunResult(EXIT_OK, status.status, stats)


def _export_after_training(ctx, status) -> None:
    """save.gguf_path set: the same export as `forge export`, verified, once the adapter is safe on disk.

    The export reloads base + adapter from disk, so what it verifies is exactly what was saved.
    """
    from forge.export import export_project
    from forge.export.gguf import parse_types

    cfg = ctx.cfg
    status.phase("exporting", message=f"GGUF {cfg.save.gguf_quantization} -> {cfg.save.gguf_path}")
    types = parse_types(cfg.save.gguf_quantization)
    say = lambda m: ctx.log.info("export: %s", m)  # noqa: E731
    report = export_project(ctx.project, cfg, bool(cfg.save.merged_path), types, progress=say)
    ctx.log.info("export verified: %d GGUF file(s)%s", len(report.gguf), ", merged model" if report.merged else "")


def _quiet_libraries() -> None:
    """Library progress bars would interleave with forge's own progress bar and --json output."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()


def _quiet(trainer):
    """The Trainer prints every log dict to stdout when tqdm is off; forge reports through its own files."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


class _NotifyingStatus:
    """The status writer, also telling the progress display about phase changes."""

    def __init__(self, writer: StatusWriter, progress: Callable[[Status], None]):
        self._writer, self._progress = writer, progress

    @property
    def status(self) -> Status:
        return self._writer.status

    def update(self, **changes) -> Status:
        return self._writer.update(**changes)

    def phase(self, phase: str, **changes) -> Status:
        st = self._writer.phase(phase, **changes)
        try:
            self._progress(st)
        except Exception:
            pass
        return st


def _fit(trainer, checkpoint: Checkpoint | None):
    # One call, so that the OOM backoff can wrap it: rebuild the trainer with half the micro-batch
    # and twice the accumulation, then call it again from the newest complete checkpoint.
    from forge.train.integrity import finished, load_finished, planned_steps

    if checkpoint is not None and finished(checkpoint.path, planned_steps(trainer)):  # killed after the last step
        return load_finished(trainer, checkpoint.path)
    return trainer.train(resume_from_checkpoint=str(checkpoint.path) if checkpoint else None)


# ------------------------------------------------------------------------------------ setup steps


def _validate_data(ctx: _Ctx):
    from forge.data import load_conversations
    from forge.data.reader import DataError
    from forge.data.validate import validate_file

    cfg = ctx.cfg
    train_path = ctx.project.path(cfg.dataset.path)
    val_path = ctx.project.path(cfg.dataset.val_path) if cfg.dataset.val_path else None
    for path, key in ((train_path, "dataset.path"), (val_path, "dataset.val_path")):
        if path is None:
            continue
        if not path.exists():
            fix = "run the format step, or point dataset.path at your training file"
            if key == "dataset.val_path":
                fix = "split off a few percent of the data into it, or set dataset.val_path=null to train without eval"
            raise ForgeError(f"{key}: {path} not found", fix, exit_code=EXIT_USAGE, kind="data")
        report = validate_file(path)
        if not report.ok:
            raise DataError(_data_problem_text(path, report), report)
        ctx.log.info("%s: %s", key, report.summary())
    train_convs = load_conversations(train_path)
    val_convs = load_conversations(val_path) if val_path else []
    return train_convs, val_convs, train_path, val_path


def _data_problem_text(path: Path, report) -> str:
    if getattr(report, "fatal", None):
        return str(report.fatal)
    counts = ", ".join(f"{k} x{v}" for k, v in (report.counts or {}).items())
    bad = sum((report.counts or {}).values())
    lines = [f"{path}: {bad} bad record(s) of {report.rows} ({counts or 'no usable conversations'})"]
    shown = report.problems[:20]
    lines += [p.render(path) for p in shown]
    if bad > len(shown):
        lines.append(f"... and {bad - len(shown)} more (`forge check --json` lists them)")
    return "\n".join(lines)


def _resume_point(ctx: _Ctx, resume: bool, force: bool, fp: dict) -> Checkpoint | None:
    from forge.train.distributed import is_main
    from forge.train.integrity import cleanup, newest_valid

    out = ctx.output_dir
    if resume:
        # only a checkpoint forge marked complete and whose files pass integrity.problem; each one skipped is named
        ckpt = newest_valid(out, warn=ctx.log.warning)
        if ckpt is None and list_checkpoints(out) and not force:
            raise ForgeError(
                f"--resume: no valid checkpoint in {out} (every one is torn or corrupted, see the warnings above)",
                "pass --force with --resume to start over from step 0, or restore a checkpoint",
                exit_code=EXIT_FAIL,
                kind="no_valid_checkpoint",
            )
        if is_main():
            cleanup(out, ckpt, ctx.log.warning)  # torn folders, checkpoints newer than ckpt, temporary files
        if ckpt is None:
            ctx.log.warning("--resume: no complete checkpoint in %s; starting from step 0", out)
            if is_main():
                _reset_history(ctx, None)
            return None
        check_resume(out, fp, force, ctx.log.warning)
        ctx.log.info("resuming from %s (step %d)", ckpt.path, ckpt.step)
        if is_main():
            _reset_history(ctx, ckpt.step)
        return ckpt
    existing = list_checkpoints(out)
    complete = [c for c in existing if c.complete]
    if complete and not force:
        raise ForgeError(
            f"{out} holds checkpoints of an earlier run (newest: {complete[-1].path.name})",
            "continue it with --resume, or pass --force to delete them and start over",
            exit_code=EXIT_USAGE,
            kind="usage",
        )
    if not is_main():
        return None
    for c in existing:
        ctx.log.warning("deleting %s checkpoint %s (fresh run)", "old" if c.complete else "incomplete", c.path)
        shutil.rmtree(c.path, ignore_errors=True)
    cleanup(out, None)  # temporary and half-deleted leftovers of a killed run
    _reset_history(ctx, None)
    return None


def _reset_history(ctx: _Ctx, keep_through_step: int | None) -> None:
    """A fresh run starts an empty history; a resumed one drops what came after its checkpoint."""
    from forge.train.plots import read_history

    path = ctx.project.history_file
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [] if keep_through_step is None else [r for r in read_history(path) if r.get("step", 0) <= keep_through_step]
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _check_stop(ctx: _Ctx) -> None:
    if ctx.stop.requested:
        raise Interrupted()


def _tokenize(ctx: _Ctx, tokenizer, train_convs, val_convs):
    from forge.train.dataset import render_masked_example, tokenize_conversations

    max_len = ctx.cfg.model.max_seq_length
    examples, report = tokenize_conversations(train_convs, tokenizer, max_len)
    ctx.log.info("train split tokenized: %s", _summary(report))
    # refuses (ForgeError) when too many examples keep no trained token: a template or length problem
    report.check(ctx.cfg.training.max_dropped_fraction)
    if not examples:
        raise ForgeError("no training example keeps a trained token", "check dataset.chat_template and max_seq_length")
    val_examples: list[dict] = []
    if val_convs:
        val_examples, val_report = tokenize_conversations(val_convs, tokenizer, max_len)
        ctx.log.info("val split tokenized: %s", _summary(val_report))
        if not val_examples:
            ctx.log.warning("no val example keeps a trained token: training without eval")
    ctx.log.info("one training example, trained spans marked:\n%s", render_masked_example(examples[0], tokenizer))
    return examples, report, val_examples


def _log_settings(ctx: _Ctx, backend, plan, report) -> None:
    import json

    ctx.log.info("resolved config:\n%s", json.dumps(ctx.cfg.to_json_dict(), indent=2))
    ctx.log.info("plan: %s", json.dumps(plan.to_dict()))


# ------------------------------------------------------------------------------------ save steps


def _adapter_complete(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() and (path / "adapter_model.safetensors").is_file()


def _merged_complete(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _save_swapped(final: Path, run_id: str, write: Callable[[Path], None], complete: Callable[[Path], bool]) -> None:
    """Write into a temporary sibling, check it, then swap it in: never a half folder under `final`."""
    from forge.train.integrity import clean_swap_leftovers

    final.parent.mkdir(parents=True, exist_ok=True)
    clean_swap_leftovers(final)  # what a run killed in the middle of this swap left behind
    tmp = final.with_name(f".{final.name}.tmp-{run_id}")
    old = final.with_name(f".{final.name}.old-{run_id}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        if not complete(tmp):
            raise ForgeError(f"saving {final} produced an incomplete folder", "see logs/training.log")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _write_stats(ctx, backend, trainer, plan, report, n_train, n_val, checkpoint) -> dict:
    from forge.train.plots import read_history
    from forge.train.report import data_counts, library_versions, loss_summary

    state = trainer.state
    losses = loss_summary(read_history(ctx.project.history_file))
    trained_tokens = sum(sum(1 for t in ex if t != -100) for ex in trainer.train_dataset["labels"])
    stats = {
        # the original keys
        "model": ctx.cfg.model.name,
        "dataset_samples": n_train,
        "final_loss": losses["final_train_loss"],
        "total_steps": state.global_step,
        "epochs": round(state.epoch or 0, 4),
        "completed_at": utcnow(),
        # forge's additions
        **losses,
        "train_samples": n_train,
        "val_samples": n_val,
        "trained_tokens_per_epoch": trained_tokens,
        "tokens_seen": state.num_input_tokens_seen,
        "duration_seconds": round(time.time() - ctx.t0, 1),
        "backend": backend.name,
        "run_id": ctx.run_id,
        "started_at": ctx.status.status.started_at,
        "resumed_from": checkpoint.path.name if checkpoint else None,
        "learning_rate": ctx.cfg.training.learning_rate,
        "effective_batch": ctx.cfg.effective_batch() * distributed.world_size(),
        "max_seq_length": ctx.cfg.model.max_seq_length,
        "lora_r": ctx.cfg.lora.r,
        "plan": plan.to_dict(),
        "data": data_counts(report),
        "versions": library_versions(),
    }
    atomic_write_json(ctx.project.training_stats_file, stats)
    return stats


# ------------------------------------------------------------------------------------ failure, log


def _fail(ctx: _Ctx, message: str, kind: str, fix: str | None) -> None:
    # not echoed to the console: the CLI prints the error and its fix itself
    ctx.log.error("failed (%s): %s%s", kind, message, f"\nfix: {fix}" if fix else "", extra={"console": False})
    from forge.train import distributed

    if not distributed.is_main():  # the launcher puts it into the status (rank 0 is the one writer)
        distributed.write_rank_error(ctx.project, message, kind, fix)
    try:
        ctx.status.phase("failed", error=message, error_kind=kind, solution=fix)
    except OSError:
        pass


def _classify(e: BaseException) -> tuple[str, str]:
    import errno

    text = str(e).lower()
    if any(isinstance(x, OSError) and x.errno == errno.ENOSPC for x in (e, e.__cause__, e.__context__)):
        return "disk_full", (
            "free disk space where the project lives (old checkpoints in outputs/, merged models), or point "
            "training.output_dir / save paths at a larger disk; then rerun with --resume (the last complete "
            "checkpoint and the previous adapter are intact)"
        )
    if type(e).__name__ == "OutOfMemoryError" or "out of memory" in text:
        return "oom", (
            "lower training.per_device_train_batch_size (raise gradient_accumulation_steps to keep the effective "
            "batch) or model.max_seq_length, or load the model in 4-bit; then rerun with --resume"
        )
    return "error", "see logs/training.log for the traceback; rerun with --resume to continue from the last checkpoint"


def _open_log(path: Path, console_handler: logging.Handler | None) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")  # flushed per record: tail -f works
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler._forge = True  # type: ignore[attr-defined]
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    if console_handler is not None:
        console_handler._forge = True  # type: ignore[attr-defined]
        log.addHandler(console_handler)
    # the libraries' warnings belong in the same log
    for name in ("transformers", "trl", "peft", "py.warnings"):
        lib = logging.getLogger(name)
        lib.addHandler(handler)
    logging.captureWarnings(True)
    return log


def _close_log(log: logging.Logger) -> None:
    for h in list(log.handlers):
        if getattr(h, "_forge", False):
            log.removeHandler(h)
            for name in ("transformers", "trl", "peft", "py.warnings"):
                logging.getLogger(name).removeHandler(h)
            h.close()
    logging.captureWarnings(False)


def _summary(report) -> str:
    return report.summary() if hasattr(report, "summary") else str(report)
