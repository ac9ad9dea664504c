"""ForgeCallback: where forge hooks into the Trainer's loop (torch via transformers).

It writes the live status and the history at every log, marks checkpoints complete after the
Trainer wrote them, turns a SIGINT/SIGTERM into "save a checkpoint and stop" at the next step
boundary (or, during an eval, at the next eval batch: EvalStopped, which the recipe turns into a
checkpoint at the last finished step), and feeds an optional progress display. The ETA counts
the evals still to come. It never changes what is trained.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from forge.clock import utcnow
from forge.records.train import HistoryRow, append_history
from forge.status import Status, StatusWriter
from forge.train.checkpoints import MARKER, mark_complete
from forge.train.first_step import FirstStepWatch
from forge.train.signals import StopRequest


class EvalStopped(Exception):
    """SIGINT/SIGTERM during an eval: the Trainer has no flag that ends an eval early, so the
    callback raises this at the next eval batch, and the recipe checkpoints the last finished step."""


def _peak_vram_gb() -> float | None:
    from forge.train.vram import peaks_gb

    peaks = peaks_gb()
    return peaks[0] if peaks else None


def planned_epochs(args, state, dataloader) -> float:
    """The epochs the run will cover: transformers' num_train_epochs is rounded up to whole epochs
    under max_steps (a 3-step run of a 30-step epoch read "epoch 0.10 / 1"); the fraction instead,
    where the dataloader's length tells it."""
    try:
        batches = len(dataloader)
    except TypeError:  # no dataloader, or an iterable one without a length
        return state.num_train_epochs
    if not (args.max_steps and args.max_steps > 0) or not batches:
        return state.num_train_epochs
    # counted as transformers counts state.epoch: batches read over the dataloader's length, so the
    # last step reads "epoch 0.0889 / 0.0889", not "/ 0.0882" (steps over ceil(batches / accumulation):
    # an epoch's last, shorter step made the planned total smaller than the epoch the run reached)
    accumulation = max(1, args.gradient_accumulation_steps)
    per_epoch = -(-batches // accumulation)
    whole, rest = divmod(args.max_steps, per_epoch)
    return round(whole + min(1.0, rest * accumulation / batches), 4)


class ForgeCallback(TrainerCallback):
    def __init__(
        self,
        *,
        status: StatusWriter,
        history_path: Path,
        log: logging.Logger,
        stop: StopRequest,
        run_id: str,
        progress: Callable[[Status], None] | None = None,
        world=None,
        eval_examples: int = 0,
        eval_steps: int | None = None,
        on_checkpoint: Callable[[Path], None] | None = None,
        segment_started: float | None = None,
    ):
        from forge.train.distributed import World

        self.world = world or World.current()
        self.eval_examples = eval_examples
        self.eval_steps = eval_steps
        # called after each checkpoint is marked complete (the recipe drops a --force'd old run there)
        self.on_checkpoint = on_checkpoint
        self.first_step_watch: FirstStepWatch | None = None
        # torch's peak GPU memory before the first step (GB allocated, reserved), once per process
        self.load_peak: tuple[float, float] | None = None
        self.status = status
        self.history_path = history_path
        self.log = log
        self.stop = stop
        self.run_id = run_id
        self.progress = progress
        self.t0 = time.time()
        # the run's time over its segments (a --resume is a new process): the seconds of the earlier
        # segments up to the checkpoint resumed from (its marker's elapsed_seconds), plus this one's
        self.segment_started = segment_started or self.t0
        self.prior_seconds = 0.0
        self.start_step = 0
        self.last_time = self.t0
        # seconds spent inside optimizer steps: tokens/s excludes eval and checkpoint time
        self.step_seconds = 0.0
        self._step_started: float | None = None
        self.last_tokens = 0
        self.last_loss: float | None = None
        self.last_eval_loss: float | None = None
        self.train_summary: dict = {}
        self.stopped_by_signal_at: int | None = None
        self.keep_checkpoints: int | None = None
        # eval timing, for an ETA that includes the evals still to come
        self.eval_seconds: list[float] = []
        self._eval_started: float | None = None

    # ---------------------------------------------------------------- helpers
    def _append_history(self, row: HistoryRow) -> None:
        append_history(self.history_path, row)

    def _evals_left(self, step: int, max_steps: int) -> int:
        """Cadence evals after `step`, plus the final eval (the Trainer's or the recipe's) when the last step is off cadence."""
        if not self.eval_steps or not self.eval_examples:
            return 0
        left = max_steps // self.eval_steps - step // self.eval_steps
        return left + (1 if max_steps % self.eval_steps else 0)

    def _eval_estimate(self, args, per_step: float) -> float:
        """Seconds one eval takes: measured once there has been one, else from the train step time
        (a forward pass is about a third of forward + backward, over the val examples)."""
        if self.eval_seconds:
            return sum(self.eval_seconds) / len(self.eval_seconds)
        per_example = per_step / max(1, args.per_device_train_batch_size * args.gradient_accumulation_steps)
        return per_example * self.eval_examples / 3

    def _eta(self, state, args=None) -> float | None:
        done = state.global_step - self.start_step
        if done <= 0 or not state.max_steps:
            return None
        # the optimizer steps' own time: evals are counted apart, by how many are left
        per_step = (self.step_seconds or (time.time() - self.t0)) / done
        train_left = per_step * max(0, state.max_steps - state.global_step)
        evals = self._evals_left(state.global_step, state.max_steps)
        eval_left = evals * self._eval_estimate(args, per_step) if evals and args is not None else 0.0
        return round(train_left + eval_left, 1)

    def _notify(self) -> None:
        if self.progress is not None:
            try:
                self.progress(self.status.status)
            except Exception:  # a broken display must never stop training
                self.progress = None

    # ---------------------------------------------------------------- events
    def elapsed(self) -> float:
        """Seconds of the run so far: the earlier segments' (to the resumed checkpoint) and this one's."""
        return self.prior_seconds + time.time() - self.segment_started

    def _prior_segments(self, args, state) -> None:
        """The earlier segments' seconds, from the marker of the checkpoint this start resumed (the
        Trainer has loaded its state: global_step is its step); a retry after an OOM in this
        process resumes its own checkpoint, whose seconds this segment counts already."""
        if not state.global_step:
            return
        marker = Path(args.output_dir) / f"checkpoint-{state.global_step}" / MARKER
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        seconds = info.get("elapsed_seconds") if isinstance(info, dict) else None
        if isinstance(seconds, (int, float)) and info.get("segment_started") != self.segment_started:
            self.prior_seconds = float(seconds)

    def on_train_begin(self, args, state, control, **kwargs):
        self._prior_segments(args, state)
        if self.load_peak is None:  # not again for a retry after an OOM: its peak is the steps'
            from forge.train.vram import split_load_peak

            self.load_peak = split_load_peak()
        self.t0 = time.time()
        self.last_time = self.step_seconds = 0.0
        self.start_step = state.global_step
        self.last_tokens = state.num_input_tokens_seen or 0
        # forge rotates checkpoints itself, after its marker (integrity.prune): the Trainer's own
        # rotation runs before on_save, so a kill between the two could leave no complete checkpoint.
        if args.save_total_limit:
            self.keep_checkpoints, args.save_total_limit = args.save_total_limit, None
        if not state.is_world_process_zero:
            return
        # a retry after an OOM starts a new trainer: one watch per start of the loop
        if self.first_step_watch is not None:
            self.first_step_watch.done()
        self.first_step_watch = FirstStepWatch(self.status, self.log)
        self.first_step_watch.start()
        self.status.phase(
            "training",
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(state.epoch or 0, 4),
            total_epochs=planned_epochs(args, state, kwargs.get("train_dataloader")),
        )
        if state.global_step:
            self.log.info("resumed at step %d of %d", state.global_step, state.max_steps)
        self._notify()

    def took_finished(self, state, checkpoint: Path) -> None:
        """A resume that found the run already at its last step (forge.train.fit): the status shows
        that checkpoint's step, epoch and save time, as the run left them (no training event comes)."""
        if not state.is_world_process_zero:
            return
        saved = None
        try:
            saved = json.loads((checkpoint / MARKER).read_text(encoding="utf-8")).get("saved_at")
        except (OSError, ValueError, AttributeError):
            pass
        self.status.update(
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(state.epoch or 0, 4),
            total_epochs=round(state.epoch, 4) if state.epoch else state.num_train_epochs,  # the run's end
            checkpoint_at=saved if isinstance(saved, str) else utcnow(),
        )

    def on_train_end(self, args, state, control, **kwargs):
        self.stop_watch()  # a run that ended before any step finished

    def stop_watch(self) -> None:
        """Stop the first-step watch (the recipe calls it before writing a failure or an
        interruption, so the watch's line never lands on a final status)."""
        if self.first_step_watch is not None:
            self.first_step_watch.done()
            self.first_step_watch = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        self.stop_watch()
        if self._step_started is not None:
            self.step_seconds += time.time() - self._step_started
            self._step_started = None
        # every rank must stop at the same step: a signal seen by any rank stops all of them
        if self.world.agree_to_stop(self.stop.requested) and not control.should_training_stop:
            # The step in flight has finished: checkpoint it (the Trainer saves model, optimizer,
            # scheduler, RNG and data position) and leave the loop.
            self.log.warning(
                "%s received: saving a checkpoint at step %d and stopping", self.stop.name, state.global_step
            )
            self.stopped_by_signal_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        if state.is_world_process_zero:
            self.status.status.step = state.global_step
            self._notify()
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if "loss" in logs:
            tokens = state.num_input_tokens_seen or 0
            dt = self.step_seconds - self.last_time
            tps = round((tokens - self.last_tokens) / dt, 1) if dt > 0 and tokens >= self.last_tokens else None
            self.last_time, self.last_tokens = self.step_seconds, tokens
            self.last_loss = float(logs["loss"])
            lr = logs.get("learning_rate")
            row = HistoryRow(
                step=state.global_step,
                epoch=round(state.epoch or 0, 4),
                loss=self.last_loss,
                learning_rate=lr,
                tokens_per_second=tps,
                grad_norm=logs.get("grad_norm"),
                time=utcnow(),
            )
            self._append_history(row)
            self.status.update(
                step=state.global_step,
                epoch=row.epoch,
                loss=round(self.last_loss, 6),
                learning_rate=lr,
                tokens_per_second=tps,
                eta_seconds=self._eta(state, args),
                peak_vram_gb=_peak_vram_gb(),
            )
            self.log.info(
                "step %d/%d  loss %.4f  lr %.3g  %s tok/s  eta %ss",
                state.global_step,
                state.max_steps,
                self.last_loss,
                lr or 0.0,
                tps,
                self.status.status.eta_seconds,
            )
        if "eval_loss" in logs:
            self.last_eval_loss = float(logs["eval_loss"])
            self._append_history(
                HistoryRow(
                    step=state.global_step,
                    epoch=round(state.epoch or 0, 4),
                    eval_loss=self.last_eval_loss,
                    time=utcnow(),
                )
            )
            self.status.phase("training", eval_loss=round(self.last_eval_loss, 6), eta_seconds=self._eta(state, args))
            self.log.info("step %d  eval_loss %.4f", state.global_step, self.last_eval_loss)
        if "train_runtime" in logs:
            self.train_summary = dict(logs)
        self._notify()

    def on_prediction_step(self, args, state, control, **kwargs):
        if self._eval_started is None:
            self._eval_started = time.time()
        # an eval of a large val split can take minutes: a signal must not wait for its end
        if self.world.agree_to_stop(self.stop.requested):
            self.stopped_by_signal_at = state.global_step
            self._eval_started = None
            raise EvalStopped(f"{self.stop.name} during the eval at step {state.global_step}")
        if state.is_world_process_zero and self.status.status.phase != "evaluating":
            self.status.phase("evaluating")

    def on_evaluate(self, args, state, control, **kwargs):
        if self._eval_started is not None:
            self.eval_seconds.append(time.time() - self._eval_started)
            self._eval_started = None

    def on_save(self, args, state, control, **kwargs):
        from forge.train.integrity import manifest, prune

        self.world.barrier()  # every rank has written its part (its RNG state) before rank 0 marks the folder
        if not state.is_world_process_zero:
            return
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not path.is_dir():
            self.log.warning("trainer reported a save but %s is missing", path)
            return
        info = {"step": state.global_step, "run_id": self.run_id, "saved_at": utcnow(), "files": manifest(path)}
        info.update(elapsed_seconds=round(self.elapsed(), 1), segment_started=self.segment_started)
        mark_complete(path, info)
        for name in prune(Path(args.output_dir), self.keep_checkpoints):
            self.log.info("deleted old checkpoint %s (save_total_limit %d)", name, self.keep_checkpoints)
        self.status.update(checkpoint_at=utcnow())
        self.log.info("checkpoint complete: %s", path)
        if self.on_checkpoint is not None:
            self.on_checkpoint(path)


def callbacks_of(recipe, eval_examples: int) -> tuple[ForgeCallback, list]:
    """A Recipe's (forge.train.recipe) ForgeCallback and the whole list the trainer gets: forge's
    first, then the caller's and the registered factories' (forge.train.extensions)."""
    from forge.train.extensions import extra_callbacks

    callback = ForgeCallback(
        status=recipe.status,
        history_path=recipe.project.history_file,
        log=recipe.log,
        stop=recipe.stop,
        run_id=recipe.run_id,
        progress=recipe.progress,
        world=recipe.world,
        eval_examples=eval_examples,
        eval_steps=recipe.plan.eval_steps,
        on_checkpoint=lambda path: recipe.previous.discard(),
        segment_started=recipe.t0,  # the run's time over its segments (training-stats duration_seconds)
    )
    return callback, [callback, *extra_callbacks(recipe.extra_callbacks)]
