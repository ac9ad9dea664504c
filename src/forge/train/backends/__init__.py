"""Training backends: how a model is loaded, wrapped with LoRA, trained and saved.

forge's recipe (forge.train.recipe) is the same for every backend; a backend supplies the pieces
that differ between plain transformers+PEFT+TRL ("hf", anywhere) and Unsloth ("unsloth", NVIDIA
GPUs). A backend is a subclass of `Backend` with these methods, called in this order:

    backend = select_backend(requested, settings, log, output_dir)  # "auto" | "unsloth" | "hf"
    model, tokenizer = backend.load()                    # base model + LoRA adapter, chat template set
    plan = backend.plan(n_train, n_val)                  # TrainPlan: steps, cadence, optim, precision
    train_ds = backend.prepare_dataset(examples)         # forge's tokenized examples -> datasets.Dataset
    trainer = backend.make_trainer(model, tokenizer, train_ds, eval_ds, plan, callbacks)
    trainer.train(resume_from_checkpoint=...)            # the recipe calls this (retry loop wraps it)
    backend.save_adapter(model, tokenizer, tmp_dir)      # adapter_config.json, adapter_model.safetensors, tokenizer

The merged model is no backend's: `forge export`'s pipeline makes it from the saved adapter
(forge.train.saving), for every backend and strategy alike.

Rules every backend keeps: the examples arrive tokenized with forge's labels (-100 outside the
assistant turns) and must be trained as they are (no second masking pass such as Unsloth's
`train_on_responses_only`); make_trainer must wrap its trainer class with
forge.train.guards.guarded (the NaN guard) and pass `callbacks` on; saving writes into the folder
it is given (the recipe swaps it into place). Settings a backend cannot honour are mapped to ones
it can and logged (`self.note(...)`), never silently dropped. `backend.cfg` is a view of the run's
RunSettings (forge.train.settings): the recipe's one owner of the config, which the OOM backoff and
the data-parallel division change, so what the backend builds is what the stats record.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from forge.config import ForgeConfig
from forge.errors import EXIT_USAGE, ForgeError
from forge.plan.backend_choice import BACKENDS, cuda_available  # noqa: F401 (the one list and probe, re-exported)
from forge.plan.eval_budget import cadence
from forge.train.settings import RunSettings


@dataclass
class TrainPlan:
    """The numbers of this run on this hardware, resolved from the config's "auto"/null values."""

    total_steps: int
    steps_per_epoch: int
    eval_steps: int | None
    save_steps: int
    optim: str
    fp16: bool
    bf16: bool
    gradient_checkpointing: bool
    packing: bool
    device: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Backend:
    name = "base"

    def __init__(self, cfg: ForgeConfig | RunSettings, log: logging.Logger, output_dir: Path):
        self.settings = cfg if isinstance(cfg, RunSettings) else RunSettings(cfg)
        self.log = log
        self.output_dir = output_dir  # where the trainer writes checkpoint-N folders
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        """A setting changed or decided for this hardware: logged and kept in the plan."""
        self.notes.append(message)
        self.log.info("%s backend: %s", self.name, message)

    def _freeze_towers(self, model) -> None:
        """A vision tower with no adapter runs without autograd (forge.train.frozen_tower);
        FORGE_VISION_NO_GRAD=0 keeps the libraries' behaviour (its graph kept, a backward through it)."""
        if os.environ.get("FORGE_VISION_NO_GRAD", "1") == "0":
            return
        from forge.train.frozen_tower import note, run_frozen_towers_without_grad

        message = note(run_frozen_towers_without_grad(model))
        if message:
            self.note(message + "; FORGE_VISION_NO_GRAD=0 keeps them in the graph")

    @property
    def cfg(self) -> ForgeConfig:
        """The config as it trains now (after OOM retries and the data-parallel division)."""
        return self.settings.cfg

    @cfg.setter
    def cfg(self, value: ForgeConfig) -> None:
        self.settings.cfg = value

    # -- the steps, in order ---------------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def plan(self, n_train: int, n_val: int) -> TrainPlan:
        raise NotImplementedError

    def prepare_dataset(self, examples: list[dict]):
        from datasets import Dataset

        keep = ("input_ids", "labels", "attention_mask")
        if any(ex.get("images") for ex in examples):  # the vision collator opens them batch by batch
            keep += ("token_type_ids", "images")
            examples = [{"token_type_ids": [0] * len(ex["input_ids"]), "images": [], **ex} for ex in examples]
        return Dataset.from_list([{k: ex[k] for k in keep if k in ex} for ex in examples])

    @staticmethod
    def has_images(dataset) -> bool:
        return dataset is not None and "images" in getattr(dataset, "column_names", ())

    def make_trainer(self, model, tokenizer, train_ds, eval_ds, plan: TrainPlan, callbacks: list):
        raise NotImplementedError

    def save_adapter(self, model, tokenizer, path) -> None:
        raise NotImplementedError

    # -- shared arithmetic -----------------------------------------------------------------
    def steps(self, n_train: int, world_size: int | None = None) -> tuple[int, int]:
        """(total optimizer steps, steps per epoch) the Trainer will run."""
        t = self.cfg.training
        world_size = world_size or self.settings.world_size
        batches = math.ceil(n_train / (t.per_device_train_batch_size * world_size))
        per_epoch = max(1, math.ceil(batches / t.gradient_accumulation_steps))
        total = t.max_steps if t.max_steps else max(1, math.ceil(t.num_train_epochs * per_epoch))
        return total, per_epoch

    def cadences(self, total_steps: int, has_eval: bool) -> tuple[int | None, int]:
        t = self.cfg.training
        eval_steps: int | None
        if not has_eval or t.eval_steps is None:
            eval_steps = None
        elif t.eval_steps == "auto":
            eval_steps = cadence(total_steps)
        else:
            eval_steps = int(t.eval_steps)
        if t.save_steps == "auto":
            save_steps = eval_steps or cadence(total_steps)
        else:
            save_steps = int(t.save_steps)
        return eval_steps, save_steps


def select_backend(
    requested: str | None, cfg: ForgeConfig | RunSettings, log: logging.Logger, output_dir: Path
) -> Backend:
    """The backend for this run; 'auto' prefers Unsloth where it can run, and says why."""
    settings = cfg if isinstance(cfg, RunSettings) else RunSettings(cfg)
    cfg = settings.cfg
    requested = (requested or cfg.training.backend or "auto").lower()
    if requested not in BACKENDS:
        raise ForgeError(
            f"unknown backend {requested!r}", f"use one of: {', '.join(BACKENDS)}", exit_code=EXIT_USAGE, kind="usage"
        )
    from forge.plan.backend_choice import UNSLOTH_FIX, choose, unsloth_reason_here

    reason = unsloth_reason_here()
    chosen, refusal = choose(requested, reason)  # the resolver's rule (forge check says the same)
    if refusal:
        raise ForgeError(refusal, UNSLOTH_FIX, exit_code=EXIT_USAGE, kind="backend")
    if chosen == "unsloth":
        try:
            from forge.train.backends.unsloth import UnslothBackend
        except ImportError as e:
            if requested == "unsloth":
                raise ForgeError(
                    f"the Unsloth backend failed to import: {e}",
                    "use --backend hf",
                    exit_code=EXIT_USAGE,
                    kind="backend",
                ) from None
            log.warning("backend auto: Unsloth backend unavailable (%s); using hf", e)
        else:
            log.info("backend %s: unsloth (Unsloth is installed and CUDA is present)", requested)
            return UnslothBackend(settings, log, output_dir)
    if cfg.model.load_in_fp8:  # FP8 LoRA is Unsloth's; refused before any weights load
        from forge.plan.fp8 import fp8_refusal

        raise fp8_refusal("hf", None)
    from forge.train.backends.hf import HFBackend

    why = "asked for" if requested == "hf" else reason
    log.info("backend %s: hf (transformers+PEFT+TRL): %s", requested, why)
    return HFBackend(settings, log, output_dir)
