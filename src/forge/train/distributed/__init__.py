"""Data-parallel training: `forge train --gpus N` / `--nproc N` / `--nnodes M` on torchrun.

- world.py: the `World` (one frozen object per process: rank, world size, strategy, and what a
  rank may do: divide the batch, agree to stop, write as rank 0). Its docstring is the API.
- launch.py: the launcher (the user's argv to torchrun, signals forwarded, no rank left behind);
  argv.py: which tokens of the argv the launcher keeps for itself; outcome.py: the final status.
- strategy.py: DDP or FSDP, as TrainingArguments options of the libraries' own sharding.
- batch.py, ranks.py, quiet.py: the batch division, the ranks' files, a rank's silent writers.

The module-level functions below are the names the recipe used before the World; they answer
from the environment as before and go once the recipe asks its World.
"""

from __future__ import annotations

from forge.train.distributed.batch import divide_batch
from forge.train.distributed.quiet import SilentStatusWriter
from forge.train.distributed.ranks import DIST_DIR, dist_dir
from forge.train.distributed.world import CHILD_ENV, World

__all__ = ["CHILD_ENV", "DIST_DIR", "SilentStatusWriter", "World", "dist_dir", "divide_batch"]


# ------------------------------------------------------------------ the names before the World


def world_size() -> int:
    return World.from_env().world_size


def rank() -> int:
    return World.from_env().rank


def local_rank() -> int:
    return World.from_env().local_rank


def is_child() -> bool:
    return World.from_env().launched


def is_main() -> bool:
    return World.from_env().is_main


def agree_to_stop(local: bool) -> bool:
    return World.from_env().agree_to_stop(local)


def barrier() -> None:
    World.from_env().barrier()


def apply_world(cfg, log=None):
    return World.from_env().divide(cfg, log)


def write_pid(project) -> None:
    World.from_env().write_pid(project)


def write_rank_error(project, message: str, kind: str, fix: str | None) -> None:
    World.from_env().write_rank_error(project, message, kind, fix)


def write_exit(project, code: int) -> None:
    World.from_env().write_exit(project, code)


def rank_logger(console_handler=None):
    return World.from_env().rank_logger(console_handler)


def backend_for_world(requested: str | None, log) -> str | None:
    return World.from_env().backend_name(requested, log)
