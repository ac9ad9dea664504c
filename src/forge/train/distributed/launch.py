"""The launcher: the `forge train` the user started re-runs itself under torchrun, one process per rank.

    python -m torch.distributed.run --standalone --nproc_per_node N -m forge <the user's argv>

(the user's argv minus the launcher's own options, `argv.child_args`), with FORGE_DIST_CHILD=1 and
FORGE_DIST_STRATEGY in the environment so that the ranks do not launch again and know their
strategy. Several machines (`--nnodes M --rdzv-endpoint HOST:PORT [--node-rank K]`) go through
torchrun's c10d rendezvous in place of `--standalone`; node 0 hosts the rendezvous store.

The launcher runs torchrun in its own session (a terminal's Ctrl-C reaches the launcher only) and
forwards SIGINT/SIGTERM once to the ranks of its own node; the ranks agree on the stop step (all
of them, on every node). Once torchrun has exited it kills any rank of its node still alive, and
the launcher of the node that holds rank 0 turns the ranks' files into the final status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import forge.train.distributed.ranks as ranks
from forge.errors import EXIT_USAGE, ForgeError
from forge.processes import pid_alive
from forge.train.distributed.world import CHILD_ENV, STRATEGIES, STRATEGY_ENV


@dataclass(frozen=True)
class LaunchPlan:
    """How many processes on this node, over what, and how the nodes meet."""

    nproc_per_node: int
    comm: str  # "nccl" | "gloo": what the ranks will use; said in the launch line
    strategy: str = "ddp"
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def torchrun_command(self, forge_args: list[str]) -> list[str]:
        cmd = [sys.executable, "-m", "torch.distributed.run"]
        if self.nnodes == 1:
            cmd.append("--standalone")
        else:
            host = "true" if self.node_rank == 0 else "false"
            cmd += [
                f"--nnodes={self.nnodes}",
                f"--node_rank={self.node_rank}",
                "--rdzv_backend=c10d",
                f"--rdzv_endpoint={self.rdzv_endpoint}",
                "--rdzv_id=forge",
                f"--rdzv_conf=is_host={host}",
            ]
        return [*cmd, f"--nproc_per_node={self.nproc_per_node}", "-m", "forge", *forge_args]


def resolve_processes(gpus: str | None, nproc: int | None) -> tuple[int, str]:
    """(process count, "nccl"|"gloo") for --gpus / --nproc; refuses what cannot run here."""
    if gpus is not None and nproc is not None:
        raise ForgeError("--gpus and --nproc exclude each other", "pass one of them", exit_code=EXIT_USAGE)
    if nproc is not None:
        if nproc < 1:
            raise ForgeError(f"--nproc {nproc}: must be 1 or more", "pass --nproc 2", exit_code=EXIT_USAGE)
        return nproc, "gloo"
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible == 0:
        raise ForgeError(
            "--gpus: no CUDA GPU is visible on this machine",
            "run on a machine with NVIDIA GPUs; on the CPU, `--nproc N` runs the same data-parallel path with gloo",
            exit_code=EXIT_USAGE,
            kind="usage",
        )
    if str(gpus).strip().lower() == "auto":
        return visible, "nccl"
    try:
        n = int(str(gpus))
    except ValueError:
        raise ForgeError(
            f"--gpus {gpus!r}: not a number", "pass --gpus 2, or --gpus auto", exit_code=EXIT_USAGE
        ) from None
    if n < 1 or n > visible:
        raise ForgeError(
            f"--gpus {n}: {visible} GPU(s) visible",
            f"pass --gpus {visible} (or --gpus auto), or set CUDA_VISIBLE_DEVICES",
            exit_code=EXIT_USAGE,
        )
    return n, "nccl"


def plan_launch(
    gpus: str | None,
    nproc: int | None,
    strategy: str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
) -> LaunchPlan | None:
    """The launch that --gpus/--nproc/--nnodes ask for, or None for a single process; refuses bad usage."""
    strategy = (strategy or "ddp").strip().lower()
    if strategy not in STRATEGIES:
        raise ForgeError(
            f"--strategy {strategy!r}: unknown", "pass --strategy ddp or --strategy fsdp", exit_code=EXIT_USAGE
        )
    nodes = nnodes or 1
    if nodes < 1:
        raise ForgeError(f"--nnodes {nodes}: must be 1 or more", "pass --nnodes 2", exit_code=EXIT_USAGE)
    if nodes > 1 and not rdzv_endpoint:
        raise ForgeError(
            f"--nnodes {nodes}: the nodes need a meeting point",
            "pass --rdzv-endpoint HOST:PORT (node 0's address, the same on every node)",
            exit_code=EXIT_USAGE,
        )
    if rdzv_endpoint and (":" not in rdzv_endpoint or not rdzv_endpoint.rsplit(":", 1)[1].isdigit()):
        raise ForgeError(
            f"--rdzv-endpoint {rdzv_endpoint!r}: not HOST:PORT",
            "pass e.g. --rdzv-endpoint 10.0.0.1:29500",
            exit_code=EXIT_USAGE,
        )
    rank = node_rank or 0
    if not 0 <= rank < nodes:
        raise ForgeError(
            f"--node-rank {rank}: must be 0..{nodes - 1}",
            "number the nodes 0, 1, ... --nnodes - 1",
            exit_code=EXIT_USAGE,
        )
    if gpus is None and nproc is None:
        if nodes > 1:
            raise ForgeError(
                f"--nnodes {nodes}: how many processes per node?", "add --gpus N (or --nproc N)", exit_code=EXIT_USAGE
            )
        return None
    n, comm = resolve_processes(gpus, nproc)
    if n * nodes <= 1:
        return None
    return LaunchPlan(n, comm, strategy, nodes, rank, rdzv_endpoint)


def _die_with_parent() -> None:
    """torchrun gets SIGTERM if the launcher dies (even by SIGKILL): the ranks then stop at one step."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _descends_from(pid: int, ancestor: int, depth: int = 4) -> bool:
    """A rank of this node: a child (or grandchild) of our torchrun. Ranks of other nodes are not."""
    for _ in range(depth):
        pid = _parent(pid) or 0
        if pid <= 1:
            return False
        if pid == ancestor:
            return True
    return False


def rank_env(plan: LaunchPlan, base) -> dict[str, str]:
    """The ranks' environment: the launcher's, and what tells a rank it is one and of which strategy."""
    env = {**base, CHILD_ENV: "1", STRATEGY_ENV: plan.strategy}
    if plan.strategy == "fsdp" and plan.comm == "nccl":
        from forge.train.distributed.strategy import UNSLOTH_FSDP_ENV

        env = {**UNSLOTH_FSDP_ENV, **env}  # Unsloth reads it from the launcher's env: every rank agrees
    if plan.comm == "gloo":
        # --nproc: CPU processes, also on a machine with GPUs (N ranks would otherwise all reach for
        # cuda:LOCAL_RANK, which does not exist past the GPU count)
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.setdefault("OMP_NUM_THREADS", "1" if plan.comm == "gloo" else "4")
    return env


def launch(project, plan: LaunchPlan, forge_args: list[str], *, echo=None) -> int:
    """Run this node's ranks under torchrun, forward signals, report the first failing rank; the exit code."""
    from forge.lock import TrainLock
    from forge.train.distributed.outcome import outcome

    if plan.node_rank == 0:
        # fail fast on a running train (rank 0 takes the lock itself; a refused gang would hang)
        TrainLock(project.lock_file).acquire().release()
        ranks.clear(project)
    env = rank_env(plan, os.environ)
    if echo:
        nodes = f" on node {plan.node_rank} of {plan.nnodes}" if plan.nnodes > 1 else ""
        echo(
            f"data-parallel ({plan.strategy}): {plan.nproc_per_node} processes ({plan.comm}){nodes} via torchrun; "
            "backend hf; rank 0 writes status, log and outputs"
        )
    started = time.time()
    proc = subprocess.Popen(
        plan.torchrun_command(forge_args), env=env, start_new_session=True, preexec_fn=_die_with_parent
    )
    mine: dict[int, int] = {}  # rank -> pid of the ranks of this node, learnt while torchrun runs
    got: list[int] = []

    def learn() -> None:
        for r, pid in ranks.rank_pids(project).items():
            if r not in mine and (plan.nnodes == 1 or _descends_from(pid, proc.pid)):
                mine[r] = pid

    def forward(signum, frame):
        got.append(signum)
        learn()
        for pid in list(mine.values()) or [proc.pid]:
            try:
                os.kill(pid, signum if len(got) == 1 else signal.SIGKILL)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                rc = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                learn()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        # nothing left behind: any rank of this node still alive once torchrun is gone is killed
        for pid in mine.values():
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    holds_rank0 = 0 in mine or (plan.node_rank == 0 and 0 not in ranks.rank_pids(project))
    return outcome(project, rc, got, started, write_status=holds_rank0)
