"""RunSettings: the one owner of the config a run actually trains with (torch-free).

Before this object, three places each kept their own copy: the data-parallel division made a new
config, the OOM backoff replaced the backend's, and the stats and run file were written from the
recipe's. After an OOM retry they recorded the micro-batch that had failed. Now every change goes
through the methods below, the backend reads `settings.cfg` (Backend.cfg is a view of it), and
the stats and the run file are written from the same object, so they record what ran.
"""

from __future__ import annotations

import logging
import random

from forge.config import ForgeConfig


class RunSettings:
    def __init__(self, cfg: ForgeConfig, world_size: int = 1):
        self.configured = cfg  # as the user's file and --set gave it (never changed)
        self.cfg = cfg  # what trains now: divided across ranks, halved by OOM retries
        self.world_size = world_size
        self.oom_retries = 0
        self.changes: list[str] = []  # every change after the start, in order, for the log and the stats

    # ---------------------------------------------------------------- reading
    @property
    def training(self):
        return self.cfg.training

    def effective_batch(self) -> int:
        """Per device x accumulation x processes: the optimisation the run does, on any number of GPUs."""
        return self.cfg.effective_batch() * self.world_size

    def announce_origin(self, log: logging.Logger) -> None:
        """Where a resumed run's config came from (forge.train.resolved.resume_config's notes).

        Called from divide_for_world: the first call that hands the settings the run log, before
        any phase, so the log (and the console) say it before anything is loaded."""
        for level, message in getattr(self.configured, "resume_notes", ()):
            (log.warning if level == "warning" else log.info)("%s", message)

    # ---------------------------------------------------------------- changing
    def _train_update(self, **values) -> None:
        t = self.cfg.training
        self.cfg = self.cfg.model_copy(update={"training": t.model_copy(update=values)})

    def divide_for_world(self, world, log: logging.Logger | None = None) -> None:
        """Data-parallel: each rank's share of the planned global batch (forge.train.distributed)."""
        if log is not None:
            self.announce_origin(log)
        self.world_size = world.world_size
        self.cfg = world.divide(self.cfg, log)

    def shrink_train_batch(self) -> str | None:
        """CUDA OOM while training: half the micro-batch, twice the accumulation (the same effective
        batch, so the run optimises the same thing). None when the micro-batch is already 1."""
        t = self.cfg.training
        batch, accum = t.per_device_train_batch_size, t.gradient_accumulation_steps
        if batch <= 1:
            return None
        self._train_update(per_device_train_batch_size=batch // 2, gradient_accumulation_steps=accum * 2)
        change = f"micro-batch {batch} -> {batch // 2}, accumulation {accum} -> {accum * 2}"
        self.changes.append(change)
        return change

    def shrink_eval_batch(self) -> str | None:
        """CUDA OOM while evaluating: half the eval batch (training is unchanged)."""
        t = self.cfg.training
        eval_batch = t.per_device_eval_batch_size or t.per_device_train_batch_size
        if eval_batch <= 1:
            return None
        self._train_update(per_device_eval_batch_size=eval_batch // 2)
        change = f"eval batch {eval_batch} -> {eval_batch // 2}"
        self.changes.append(change)
        return change

    # ---------------------------------------------------------------- the val split
    def val_sample_count(self) -> int | None:
        """How many val examples an eval uses, where the plan bounds it (None: all of them).

        The resolver decides the number (issue 15.5); the recipe only applies it. It reads the key
        the plan writes, and tolerates a config that has none yet.
        """
        value = getattr(self.cfg.training, "eval_samples", None)
        return value if isinstance(value, int) and value > 0 else None

    def sample_val(self, examples: list) -> list:
        """A deterministic sample of the val examples (the same on every rank, every resume)."""
        k = self.val_sample_count()
        if k is None or k >= len(examples):
            return examples
        keep = sorted(random.Random(self.cfg.training.seed).sample(range(len(examples)), k))
        return [examples[i] for i in keep]
