"""Data-parallel training: `forge train --gpus N` / `--nproc N` on torchrun (DDP through the Trainer).

The launcher (the `forge train` the user started) re-runs forge under torchrun, one process per
GPU (or per CPU slot with gloo for `--nproc`):

    python -m torch.distributed.run --standalone --nproc_per_node N -m forge train DIR ... (same options)

with FORGE_DIST_CHILD=1 in the environment, so the children do not launch again. The children are
ordinary `forge train` runs: the Trainer (accelerate) sets up DDP from torchrun's environment
(RANK, WORLD_SIZE, MASTER_ADDR...). forge adds:

- the batch division (`divide_batch`): per-device batch x accumulation x world size = the planned
  effective batch, so one config gives the same optimisation on 1, 2 or 8 GPUs, and a checkpoint
  resumes on any number of them (the resume fingerprint holds the effective batch, not the split);
- rank 0 alone writes the status, history, log, checkpoint markers and artifacts (`is_main`);
  the other ranks log warnings to stderr only;
- one stop decision: at every step end the ranks all-reduce (MAX) their "a signal arrived" flag,
  so all stop at the same step and checkpoint it together (`agree_to_stop`);
- failure reporting: a rank other than 0 that fails writes its error to
  `.factory/dist/rank-K-error.json`; the launcher puts the first rank's error into the status once
  torchrun has exited, and kills any rank still alive (pids in `.factory/dist/rank-K.pid`);
- signals: the launcher runs torchrun in its own session (a terminal's Ctrl-C reaches the launcher
  only) and forwards SIGINT/SIGTERM to every rank once; the ranks agree on the stop step.

Backend: the hf backend (transformers + PEFT + TRL, DDP through accelerate). Unsloth's
multi-GPU support is not part of its open-source release that forge pins and tests, so a
data-parallel run uses hf, and says so in the log.

Everything here is torch-free at import; torch is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from forge.errors import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, ForgeError

CHILD_ENV = "FORGE_DIST_CHILD"
DIST_DIR = "dist"  # under .factory/


# ------------------------------------------------------------------------------------ ranks


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def is_child() -> bool:
    return os.environ.get(CHILD_ENV) == "1" and world_size() > 1


def is_main() -> bool:
    """The rank that writes: rank 0 of a data-parallel run, or the only process."""
    return rank() == 0


def _dist():
    """torch.distributed when a process group is up (the Trainer sets it up), else None."""
    if world_size() <= 1:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


FAIL_ENV = "FORGE_TEST_RANK_FAIL"  # test hook: "R:K" makes rank R raise at its K-th step end
_step_ends = [0]


def _test_failure() -> None:
    spec = os.environ.get(FAIL_ENV, "")
    if ":" not in spec:
        return
    r, k = spec.split(":", 1)
    _step_ends[0] += 1
    if r.strip() == str(rank()) and str(_step_ends[0]) == k.strip():
        raise RuntimeError(f"injected failure on rank {rank()} at step end {k} ({FAIL_ENV})")


def agree_to_stop(local: bool) -> bool:
    """True on every rank when any rank asked to stop (all-reduce MAX of a 0/1 flag)."""
    _test_failure()
    dist = _dist()
    if dist is None:
        return local
    import torch

    device = "cpu"
    if dist.get_backend() == "nccl":
        device = f"cuda:{torch.cuda.current_device()}"
    flag = torch.tensor([1 if local else 0], dtype=torch.int32, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def barrier() -> None:
    dist = _dist()
    if dist is not None:
        dist.barrier()


# ------------------------------------------------------------------------------------ the batch


def divide_batch(per_device: int, accumulation: int, world: int) -> tuple[int, int]:
    """(per-device batch, accumulation) with per_device x accumulation x world = the planned effective batch.

    Prefers dividing the accumulation (the micro-batch, and so the memory per GPU, stays as
    planned); else divides the micro-batch; else finds the largest micro-batch that fits.
    """
    effective = per_device * accumulation
    if world <= 1:
        return per_device, accumulation
    if effective % world:
        raise ForgeError(
            f"the effective batch {per_device} x {accumulation} = {effective} does not divide across {world} processes",
            f"set training.per_device_train_batch_size x gradient_accumulation_steps to a multiple of {world}",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    if accumulation % world == 0:
        return per_device, accumulation // world
    if per_device % world == 0:
        return per_device // world, accumulation
    share = effective // world
    b = max(d for d in range(1, min(per_device, share) + 1) if share % d == 0)
    return b, share // b


def apply_world(cfg, log=None):
    """The config of one rank: the effective batch divided across the world (logged)."""
    world = world_size()
    if world <= 1:
        return cfg
    t = cfg.training
    b, a = divide_batch(t.per_device_train_batch_size, t.gradient_accumulation_steps, world)
    if log is not None:
        log.info(
            "data-parallel over %d processes: per-device batch %d x accumulation %d x %d processes = %d "
            "(the planned effective batch %d x %d)",
            world,
            b,
            a,
            world,
            b * a * world,
            t.per_device_train_batch_size,
            t.gradient_accumulation_steps,
        )
    return cfg.model_copy(
        update={"training": t.model_copy(update={"per_device_train_batch_size": b, "gradient_accumulation_steps": a})}
    )


# ------------------------------------------------------------------------------------ rank files


def dist_dir(project) -> Path:
    return project.factory_dir / DIST_DIR if hasattr(project, "factory_dir") else project.status_file.parent / DIST_DIR


def write_pid(project) -> None:
    """Each rank records its pid, so the launcher can signal it and check that none is left behind."""
    d = dist_dir(project)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"rank-{rank()}.pid").write_text(f"{os.getpid()}\n")


def write_rank_error(project, message: str, kind: str, fix: str | None) -> None:
    """A rank other than 0 does not write the status: it leaves its error here for the launcher."""
    d = dist_dir(project)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".rank-{rank()}-error.json.tmp"
    tmp.write_text(json.dumps({"rank": rank(), "error": message, "error_kind": kind, "solution": fix}))
    os.replace(tmp, d / f"rank-{rank()}-error.json")


def write_exit(project, code: int) -> None:
    """Rank 0's exit code for the launcher (torchrun reports only that some rank failed)."""
    if is_main():
        d = dist_dir(project)
        d.mkdir(parents=True, exist_ok=True)
        (d / "rank-0.exit").write_text(f"{code}\n")


def _rank_pids(project) -> dict[int, int]:
    out = {}
    for p in dist_dir(project).glob("rank-*.pid"):
        try:
            out[int(p.stem.split("-")[1])] = int(p.read_text().strip())
        except (ValueError, OSError, IndexError):
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ------------------------------------------------------------------------------------ the launcher


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


def child_argv(directory, config, overrides, backend, resume: bool, force: bool, json_out: bool) -> list[str]:
    """The `forge train` options every rank gets (the same run, without --gpus/--nproc)."""
    args = ["train", str(directory)]
    if config:
        args += ["--config", str(config)]
    for o in overrides or []:
        args += ["--set", o]
    if backend:
        args += ["--backend", backend]
    if resume:
        args.append("--resume")
    if force:
        args.append("--force")
    if json_out:
        args.append("--json")
    return args


def torchrun_command(n: int, forge_args: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n}",
        "-m",
        "forge",
        *forge_args,
    ]


def _die_with_parent() -> None:
    """torchrun gets SIGTERM if the launcher dies (even by SIGKILL): the ranks then stop at one step."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def launch(project, n: int, comm: str, forge_args: list[str], *, echo=None) -> int:
    """Run the ranks under torchrun, forward signals, report the first failing rank; returns the exit code."""
    from forge.clock import utcnow
    from forge.lock import TrainLock
    from forge.status import Status, StatusWriter, read_status

    # fail fast on a running train (rank 0 takes the lock itself; a refused gang would hang)
    TrainLock(project.lock_file).acquire().release()
    d = dist_dir(project)
    if d.exists():
        for p in d.iterdir():
            p.unlink(missing_ok=True)
    d.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, CHILD_ENV: "1", "FORGE_DIST_COMM": comm}
    env.setdefault("OMP_NUM_THREADS", "1" if comm == "gloo" else env.get("OMP_NUM_THREADS", "4"))
    cmd = torchrun_command(n, forge_args)
    if echo:
        echo(f"data-parallel: {n} processes ({comm}) via torchrun; backend hf; rank 0 writes status, log and outputs")
    started = time.time()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
    got: list[int] = []

    def forward(signum, frame):
        got.append(signum)
        pids = _rank_pids(project)
        targets = list(pids.values()) if pids else [proc.pid]
        for pid in targets:
            try:
                os.kill(pid, signum if len(got) == 1 else signal.SIGKILL)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:  # pragma: no cover - handlers above replace it
                continue
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        # nothing left behind: any rank still alive once torchrun is gone is killed
        for pid in _rank_pids(project).values():
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    st = read_status(project.status_file)
    errors = []
    for p in sorted(d.glob("rank-*-error.json")):
        try:
            errors.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            pass
    ours = st.started_at and (st.run_id is not None) and _after(st.started_at, started)
    if ours and st.phase == "failed" and any(e.get("error") == st.error for e in errors):
        errors = []  # every rank refused the same thing (data, config, resume): rank 0's status says it
    if errors:
        first = errors[0]
        msg = f"rank {first['rank']} failed: {first['error']}"
        if ours and st.error and st.phase == "failed":
            msg += f" (rank 0: {st.error})"
        writer = StatusWriter(project.status_file)
        writer.status = st if ours else Status(started_at=utcnow())
        writer.phase("failed", error=msg, error_kind=first.get("error_kind") or "error", solution=first.get("solution"))
        return EXIT_FAIL
    if not ours or st.running:
        # rank 0 died without a final status (killed, or a crash torchrun reported)
        writer = StatusWriter(project.status_file)
        writer.status = st if ours else Status(started_at=utcnow())
        if got:
            writer.phase("interrupted", message="stopped by a signal; resume from the newest complete checkpoint")
            return EXIT_SIGINT if got[0] == signal.SIGINT else EXIT_SIGTERM
        writer.phase(
            "failed",
            error=f"torchrun exited with {rc} and rank 0 left no final status",
            error_kind="error",
            solution="see logs/training.log and the ranks' output above; rerun with --resume",
        )
        return EXIT_FAIL
    if st.phase == "done":
        return EXIT_OK
    if st.phase == "interrupted":
        return EXIT_SIGINT if got and got[0] == signal.SIGINT else EXIT_SIGTERM
    if st.phase == "failed":
        try:  # rank 0's own exit code (2 for bad usage, config or data; 1 otherwise)
            return int((d / "rank-0.exit").read_text())
        except (OSError, ValueError):
            return EXIT_FAIL
    return EXIT_FAIL if rc else EXIT_OK


def _after(iso: str, t: float) -> bool:
    from forge.clock import parse_time

    when = parse_time(iso)
    return when is not None and when.timestamp() >= int(t) - 1


# ------------------------------------------------------------------------------------ the ranks' side


class SilentStatusWriter:
    """A rank other than 0 keeps its status in memory only: rank 0 is the one writer of the file."""

    def __init__(self, path: Path, **initial):
        from forge.status import Status

        self.path = path
        self.status = Status(**initial)

    def update(self, **changes):
        for key, value in changes.items():
            if hasattr(self.status, key) and key != "extra":
                setattr(self.status, key, value)
            else:
                self.status.extra[key] = value
        return self.status

    def phase(self, phase: str, **changes):
        from forge.status import FINAL_PHASES

        return self.update(phase=phase, running=phase not in FINAL_PHASES, **changes)


def rank_logger(console_handler=None):
    """The log of a rank other than 0: warnings and errors on stderr, tagged with the rank; no file."""
    import logging

    log = logging.getLogger("forge.train")
    log.setLevel(logging.WARNING)
    log.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[rank {rank()}] %(levelname)s %(message)s"))
    handler._forge = True  # type: ignore[attr-defined]  # removed by run._close_log
    log.addHandler(handler)
    return log


def backend_for_world(requested: str | None, log) -> str | None:
    """Data-parallel runs use the hf backend (DDP through the Trainer/accelerate), and say why."""
    if world_size() <= 1:
        return requested
    if (requested or "auto").lower() in ("auto", "unsloth"):
        log.info(
            "backend %s -> hf for data-parallel training: DDP runs through transformers' Trainer (accelerate); "
            "Unsloth's open-source release does not document multi-GPU DDP, so forge does not rely on it",
            requested or "auto",
        )
    return "hf"
