"""Data-parallel training: `forge train --gpus N` / `--nproc N` / `--nnodes M` on torchrun.

- world.py: the `World` (one frozen object per process: rank, world size, strategy, and what a
  rank may do: divide the batch, agree to stop, write as rank 0). Its docstring is the API.
- launch.py: the launcher (the user's argv to torchrun, signals forwarded, no rank left behind);
  argv.py: which tokens of the argv the launcher keeps for itself; outcome.py: the final status.
- strategy.py: DDP or FSDP, as TrainingArguments options and a Trainer class over the libraries'
  own sharding (accelerate's FSDP2 on hf, Unsloth's native FSDP2 on GPUs).
- batch.py, ranks.py, quiet.py: the batch division, the ranks' files, a rank's silent writers.
"""

from __future__ import annotations

from forge.train.distributed.batch import divide_batch
from forge.train.distributed.ranks import DIST_DIR, dist_dir
from forge.train.distributed.world import CHILD_ENV, World

__all__ = ["CHILD_ENV", "DIST_DIR", "World", "dist_dir", "divide_batch"]
