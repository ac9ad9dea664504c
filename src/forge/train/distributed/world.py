"""The World: who this process is in a training run, asked once, answered everywhere.

A run is one process (`forge train`) or one rank of several under torchrun (`forge train --gpus N`,
`--nproc N`, `--nnodes M`). The recipe makes one `World` at its start and asks it instead of
reading RANK/WORLD_SIZE or calling `is_main()` here and there:

    world = World.from_env()           # or World.current(): the same object, made once per process
    world.rank, world.local_rank, world.world_size, world.node_rank, world.nnodes
    world.is_main                      # rank 0: the one writer of status, log, history, outputs
    world.distributed                  # more than one process
    world.launched                     # a rank started by forge's launcher (FORGE_DIST_CHILD=1)
    world.strategy                     # "single" | "ddp" | "fsdp" (launcher: FORGE_DIST_STRATEGY)
    world.comm_backend()               # "nccl" on CUDA, else "gloo" (the live process group's, once up)
    world.device()                     # "cuda:<local_rank>" or "cpu"

    cfg = world.divide(cfg, log)       # per-device batch x accumulation x world = the planned global batch
    world.global_batch(cfg)            # the global batch of a (divided) config
    world.divide_batch(b, a)           # the same on two numbers -> (b', a')
    world.agree_to_stop(flag)          # all-reduce MAX: True on every rank when any rank wants to stop
    world.barrier()                    # no-op on one process
    world.status_writer(path, **init)  # StatusWriter on rank 0, an in-memory SilentStatusWriter elsewhere
    world.rank_logger()                # the log of a rank other than 0: warnings on stderr, tagged
    world.main_only(fn)                # fn on rank 0, a no-op returning None elsewhere (run file, stats...)
    world.write_pid(project)           # ranks under the launcher: .factory/dist/rank-K.pid
    world.write_rank_error(project, message, kind, fix)   # rank != 0: its error for the launcher
    world.write_exit(project, code)    # rank 0: its exit code for the launcher
    world.backend_name(requested, log) # ddp: hf; fsdp: unsloth (native FSDP2) on GPUs, else hf (logged)
    world.trainer_kwargs()             # TrainingArguments options of the strategy (DDP / FSDP)
    world.trainer_class(cls)           # the Trainer class to build (fsdp: one that saves one adapter)
    world.checkpoint_problem(path)     # a checkpoint of the other strategy cannot resume here: why

Everything is torch-free at import; torch is imported inside the methods that need it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import forge.train.distributed.ranks as ranks
from forge.train.distributed.batch import divide_batch

CHILD_ENV = "FORGE_DIST_CHILD"
STRATEGY_ENV = "FORGE_DIST_STRATEGY"
STRATEGIES = ("ddp", "fsdp")


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(env.get(key, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    node_rank: int = 0
    nnodes: int = 1
    strategy: str = "single"
    launched: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> World:
        """torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, GROUP_RANK...) and forge's launcher's."""
        env = os.environ if env is None else env
        size = max(1, _int(env, "WORLD_SIZE", 1))
        local_size = max(1, _int(env, "LOCAL_WORLD_SIZE", 1))
        strategy = "single"
        if size > 1:
            strategy = env.get(STRATEGY_ENV, "ddp").strip().lower() or "ddp"
            if strategy not in STRATEGIES:
                strategy = "ddp"
        return cls(
            rank=_int(env, "RANK", 0),
            local_rank=_int(env, "LOCAL_RANK", 0),
            world_size=size,
            local_world_size=local_size,
            node_rank=_int(env, "GROUP_RANK", 0),
            nnodes=max(1, -(-size // local_size)),
            strategy=strategy,
            launched=env.get(CHILD_ENV) == "1" and size > 1,
        )

    @staticmethod
    def current() -> World:
        """The World of this process, made once (the environment does not change under a run)."""
        return _current()

    # ---------------------------------------------------------------- who
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def device(self) -> str:
        import torch

        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"

    def comm_backend(self) -> str:
        dist = self._dist()
        if dist is not None:
            return str(dist.get_backend())
        import torch

        return "nccl" if torch.cuda.is_available() else "gloo"

    # ---------------------------------------------------------------- the batch
    def divide_batch(self, per_device: int, accumulation: int) -> tuple[int, int]:
        return divide_batch(per_device, accumulation, self.world_size)

    def divide(self, cfg, log=None):
        """The config of one rank: the planned global batch divided across the world (logged)."""
        if not self.distributed:
            return cfg
        t = cfg.training
        b, a = self.divide_batch(t.per_device_train_batch_size, t.gradient_accumulation_steps)
        if log is not None:
            log.info(
                "data-parallel over %d processes (%s): per-device batch %d x accumulation %d x %d processes = %d "
                "(the planned effective batch %d x %d)",
                self.world_size,
                self.strategy,
                b,
                a,
                self.world_size,
                b * a * self.world_size,
                t.per_device_train_batch_size,
                t.gradient_accumulation_steps,
            )
        update = {"per_device_train_batch_size": b, "gradient_accumulation_steps": a}
        return cfg.model_copy(update={"training": t.model_copy(update=update)})

    def global_batch(self, cfg) -> int:
        return cfg.effective_batch() * self.world_size

    # ---------------------------------------------------------------- agreement
    def _dist(self):
        """torch.distributed once a process group is up (the Trainer sets it up), else None."""
        if not self.distributed:
            return None
        import torch.distributed as dist

        return dist if dist.is_available() and dist.is_initialized() else None

    def agree_to_stop(self, local: bool) -> bool:
        """True on every rank when any rank asked to stop, so all stop (and checkpoint) at one step."""
        dist = self._dist()
        if dist is None:
            return bool(local)
        import torch

        device = "cpu"
        if dist.get_backend() == "nccl":
            device = f"cuda:{torch.cuda.current_device()}"
        flag = torch.tensor([1 if local else 0], dtype=torch.int32, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def barrier(self) -> None:
        dist = self._dist()
        if dist is not None:
            dist.barrier()

    # ---------------------------------------------------------------- one writer
    def status_writer(self, path, **initial):
        from forge.status import StatusWriter
        from forge.train.distributed.quiet import SilentStatusWriter

        return (StatusWriter if self.is_main else SilentStatusWriter)(path, **initial)

    def rank_logger(self, console_handler=None):
        """console_handler is not used: only rank 0 talks to the console (kept for callers that pass it)."""
        from forge.train.distributed.quiet import rank_logger

        return rank_logger(self.rank)

    def main_only(self, fn: Callable) -> Callable:
        if self.is_main:
            return fn
        return lambda *args, **kwargs: None

    def write_pid(self, project) -> None:
        ranks.write_pid(project, self.rank)

    def write_rank_error(self, project, message: str, kind: str, fix: str | None) -> None:
        ranks.write_rank_error(project, self.rank, message, kind, fix)

    def write_exit(self, project, code: int) -> None:
        if self.is_main:
            ranks.write_exit(project, code)

    # ---------------------------------------------------------------- the strategy
    def backend_name(self, requested: str | None, log) -> str | None:
        from forge.train.distributed.strategy import backend_name

        return backend_name(self, requested, log)

    def trainer_kwargs(self) -> dict:
        from forge.train.distributed.strategy import trainer_kwargs

        return trainer_kwargs(self)

    def checkpoint_problem(self, path) -> str | None:
        """Why this World cannot resume the checkpoint at path (written under the other strategy), or None."""
        from forge.train.distributed.strategy import checkpoint_problem

        return checkpoint_problem(self, path)

    def trainer_class(self, cls):
        """The Trainer class to build: `cls`, or for fsdp a subclass that shards and saves one adapter."""
        from forge.train.distributed.strategy import trainer_class

        return trainer_class(self, cls)


@lru_cache(maxsize=1)
def _current() -> World:
    return World.from_env()
