"""What the strategy of a World asks of the backend and of the Trainer (torch-free at import).

- ddp: every rank holds the whole model; the Trainer (accelerate) wraps it in DDP.
- fsdp: the model is sharded over the ranks by the libraries' own FSDP2:
  - on the hf backend, accelerate's plugin (`fsdp2_prepare_model`, torch's `fully_shard`) through
    TrainingArguments(fsdp=..., fsdp_config=...);
  - on the Unsloth backend (GPU), Unsloth's native FSDP2 (`unsloth/models/fsdp2_native.py`): the
    launcher sets UNSLOTH_FSDP2=1 for the ranks, Unsloth's patched Trainer shards the model in its
    __init__, and the TrainingArguments carry no accelerate FSDP options (Unsloth would defer to them).
  forge writes no sharding; `sharded_trainer_class` adds what the libraries leave to the caller
  (each explained where it happens).
"""

from __future__ import annotations

import sys

UNSLOTH_FSDP_ENV = {"UNSLOTH_FSDP2": "1"}  # what the launcher adds for fsdp ranks on GPUs (nccl)


def _unsloth_here() -> bool:
    """The Unsloth backend runs in this process (its constructor imports unsloth; hf never does)."""
    return "unsloth" in sys.modules


def backend_name(world, requested: str | None, log) -> str | None:
    """Data-parallel runs use the hf backend (DDP/FSDP through the Trainer/accelerate), and say why."""
    if not world.distributed:
        return requested
    asked = (requested or "auto").lower()
    if world.strategy == "fsdp" and asked in ("auto", "unsloth"):
        from forge.plan.backend_choice import unsloth_reason_here

        if unsloth_reason_here() is None:
            log.info("backend %s for fsdp: Unsloth's native FSDP2 (UNSLOTH_FSDP2=1) shards the model", asked)
            return "unsloth"
        log.info("backend %s -> hf for fsdp: accelerate's FSDP2 through the Trainer (Unsloth needs a CUDA GPU)", asked)
        return "hf"
    if asked in ("auto", "unsloth"):
        log.info(
            "backend %s -> hf for data-parallel training: DDP runs through transformers' Trainer (accelerate); "
            "Unsloth's open-source release does not document multi-GPU DDP, so forge does not rely on it",
            requested or "auto",
        )
    return "hf"


def trainer_kwargs(world) -> dict:
    """TrainingArguments options for the World's strategy (empty on one process)."""
    if not world.distributed:
        return {}
    if world.strategy == "fsdp":
        # Unsloth shards natively inside its Trainer; accelerate's options would make it step aside
        return {} if _unsloth_here() else fsdp_kwargs()
    # every LoRA parameter takes part in every step: no search for unused ones
    return {"ddp_find_unused_parameters": False}


def fsdp_kwargs() -> dict:
    """accelerate's FSDP2, one shard unit per decoder layer; checkpoints hold the whole (PEFT) adapter.

    FULL_STATE_DICT: a checkpoint is an ordinary adapter folder, so it resumes on any number of
    processes and under either strategy, like a DDP checkpoint.
    """
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "state_dict_type": "FULL_STATE_DICT",
            "reshard_after_forward": True,
            "cpu_ram_efficient_loading": False,
        },
    }


def trainer_class(world, cls):
    """The Trainer class for the World: `cls` on one process; for ranks `rank_trainer_class`, for fsdp
    also `sharded_trainer_class`."""
    if not world.distributed:
        return cls
    cls = rank_trainer_class(cls)
    return sharded_trainer_class(cls) if world.strategy == "fsdp" else cls


def rank_trainer_class(cls):
    class RankTrainer(cls):
        def _load_optimizer_and_scheduler(self, checkpoint):
            """The Trainer maps a resumed optimizer state onto args.device, which on CPU ranks is
            `cpu:N`: a location torch.load cannot restore ("don't know how to restore data location
            ... cpu:0"), so `--nproc N --resume` failed. For this call the ranks' device reads `cpu`."""
            dev = self.args.device
            if checkpoint is None or dev.type != "cpu" or dev.index is None:
                return super()._load_optimizer_and_scheduler(checkpoint)
            import torch

            self.args.__dict__["_setup_devices"] = torch.device("cpu")  # the cached_property's slot
            try:
                return super()._load_optimizer_and_scheduler(checkpoint)
            finally:
                self.args.__dict__["_setup_devices"] = dev

    RankTrainer.__name__ = RankTrainer.__qualname__ = f"Rank{cls.__name__}"
    return RankTrainer


def sharded_trainer_class(cls):
    class ShardedTrainer(cls):
        def create_accelerator_and_postprocess(self):
            super().create_accelerator_and_postprocess()
            from accelerate.state import PartialState
            from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

            state = self.accelerator.state
            if state.distributed_type == DistributedType.MULTI_CPU and self.args.fsdp_plugin_args:
                # accelerate engages its FSDP plugin only on accelerators (its MULTI_GPU family): CPU
                # ranks would silently run DDP. The CPU run exists to test this path anywhere, so
                # its state is marked FSDP (AcceleratorState copies PartialState's fields each time
                # it is made: both); the sharding stays accelerate's.
                state.distributed_type = PartialState().distributed_type = DistributedType.FSDP
                state.fsdp_plugin = FullyShardedDataParallelPlugin(**self.args.fsdp_plugin_args)
                self.is_fsdp_enabled = True
            if _already_sharded(self.model) and getattr(state, "fsdp_plugin", None) is not None:
                # the OOM backoff rebuilds the Trainer over the model it already sharded: accelerate
                # keeps a sharded model as it is, but first looks for the layer classes to wrap, which
                # fully_shard renamed (FSDPLlamaDecoderLayer), and refuses. Nothing is left to wrap.
                state.fsdp_plugin.set_auto_wrap_policy = lambda model: None

        def train(self, *args, **kwargs):
            out = super().train(*args, **kwargs)
            self._gather_adapter()
            return out

        def _gather_adapter(self):
            """Every rank, once training ends: the trained (LoRA) weights gathered whole onto rank 0.

            The recipe saves the adapter on rank 0 alone, but a sharded parameter is a DTensor that
            only all ranks together can gather. Only the trainable weights are gathered (megabytes,
            not the base model), and rank 0's `save_pretrained` writes them as one ordinary PEFT
            adapter (PEFT's own `state_dict=` argument).
            """
            import functools
            import logging

            full = {}
            trained = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
            sharded = sum(hasattr(p, "full_tensor") for _, p in trained)
            native = _unsloth_here() and _native_fsdp2(self.model)
            if native:  # Unsloth's own gather (its writer rank, its sub-meshes): on every rank
                from unsloth.models.fsdp2_native import native_full_state_dict

                full = native_full_state_dict(self.model, trainable_only=True)
            else:
                for name, p in trained:
                    t = p.full_tensor() if hasattr(p, "full_tensor") else p  # a collective on DTensors
                    full[name] = t.detach().to("cpu").clone()
            if self.accelerator.is_main_process:
                logging.getLogger("forge.train").info(
                    "fsdp: %d of %d trained tensors were sharded over %d processes; gathered into one adapter",
                    sharded,
                    len(trained),
                    self.accelerator.num_processes,
                )
                model = self.accelerator.unwrap_model(self.model)
                base = type(model).save_pretrained
                model.save_pretrained = functools.partial(base, model, state_dict=full)

    ShardedTrainer.__name__ = ShardedTrainer.__qualname__ = f"Sharded{cls.__name__}"
    return ShardedTrainer


def _already_sharded(model) -> bool:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:
        return False
    return isinstance(model, FSDPModule)


def _native_fsdp2(model) -> bool:
    try:
        from unsloth.models.fsdp2_native import is_native_fsdp2
    except ImportError:
        return False
    return bool(is_native_fsdp2(model))


FSDP_FILES = ("optimizer.bin", "pytorch_model_fsdp.bin")  # accelerate's names in an FSDP checkpoint


def checkpoint_strategy(path) -> str:
    """The strategy a checkpoint was written under: fsdp when it holds accelerate's FSDP files, else ddp."""
    from pathlib import Path

    return "fsdp" if any((Path(path) / n).is_file() for n in FSDP_FILES) else "ddp"


def checkpoint_problem(world, path) -> str | None:
    """Why this process cannot resume the checkpoint under its strategy, or None.

    The Trainer restores the optimizer from optimizer.pt outside FSDP and from accelerate's
    optimizer.bin under it; it does not read the other kind, and would go on with a fresh
    optimizer. A DDP checkpoint resumes on any number of processes, an FSDP one on any number of
    FSDP processes.
    """
    wrote = checkpoint_strategy(path)
    sharded = world.distributed and world.strategy == "fsdp"
    if wrote == "fsdp" and not sharded:
        return "written under --strategy fsdp (optimizer.bin): resume it with --nproc/--gpus N --strategy fsdp"
    if wrote == "ddp" and sharded:
        return "written without fsdp (optimizer.pt): resume it without --strategy fsdp (ddp or one process)"
    return None
