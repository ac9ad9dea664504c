"""What `forge train` does before and after the recipe: launch the ranks, or train in this process.

The command (forge.commands.train) parses, calls these, and prints:

    code = launch_if_asked(project, request, echo)   # a launcher: the ranks' exit code; else None
    cfg = load_run_config(project, request)          # --config / --set, refused with the key and fix
    result = train_here(project, cfg, request, world, progress=..., console_handler=...)
    exit_code(result, world)

A rank under the launcher records its pid (the launcher signals it and checks none is left
behind), leaves its exit code for the launcher, and exits 0 on an interruption, so that torchrun
does not kill the other ranks in the middle of their common checkpoint (the launcher turns the
status into 130/143).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from forge.errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, ForgeError


@dataclass(frozen=True)
class TrainRequest:
    """The `forge train` options, as parsed; argv is the user's own command line after `forge`."""

    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    backend: str | None = None
    resume: bool = False
    force: bool = False
    strategy: str | None = None
    gpus: str | None = None
    nproc: int | None = None
    nnodes: int | None = None
    node_rank: int | None = None
    rdzv_endpoint: str | None = None
    argv: list[str] = field(default_factory=list)


def _require_folder(project) -> None:
    if not project.root.is_dir():
        raise ForgeError(f"{project.root} is not a folder", "run `forge init DIR` first", exit_code=EXIT_USAGE)


def load_run_config(project, request: TrainRequest):
    """The config this call trains with.

    A new run: the config file (or --config) + --set. `--resume` onto a valid checkpoint: the run's
    own recorded config (outputs/forge-run.json) + the --set values that are safe to change on
    resume (forge.train.resolved.resume_config); the file only locates the output folder.
    """
    from forge.config import load_config

    _require_folder(project)
    from forge.config import config_path

    # the same rule as check and plan: the file they checked is the file this run reads
    path = config_path(project.root, request.config) if request.config else project.config_file
    cfg = load_config(path, request.overrides or [])
    if not request.resume:
        return cfg
    from forge.train.integrity import newest_valid
    from forge.train.resolved import resume_config

    output_dir = project.path(cfg.training.output_dir)
    ckpt = newest_valid(output_dir)  # quietly: start_point names every checkpoint it skips
    if ckpt is None:  # nothing to continue: a new run (or the no_valid_checkpoint refusal), from the file
        return cfg
    return resume_config(cfg, request.overrides or [], output_dir, ckpt.step, force=request.force)


def launch_if_asked(project, request: TrainRequest, echo=None, warn=None) -> int | None:
    """With --gpus/--nproc/--nnodes asking for more than one process: run them, return their exit code.

    `warn` hears of options that change nothing (fsdp on one process: nothing to shard)."""
    from forge.train.distributed.argv import child_args
    from forge.train.distributed.launch import launch, plan_launch
    from forge.train.distributed.world import World

    if World.current().launched:
        return None  # a rank: it trains
    r = request
    plan = plan_launch(r.gpus, r.nproc, r.strategy, r.nnodes, r.node_rank, r.rdzv_endpoint)
    if plan is None:
        if (r.strategy or "ddp").strip().lower() == "fsdp" and warn is not None:
            warn("--strategy fsdp: one process, nothing to shard; training unsharded (add --gpus N or --nproc N)")
        return None
    load_run_config(project, request)  # a bad config is refused here, once, not by every rank
    if not request.argv or request.argv[0] != "train":
        # the ranks re-run the user's own command line: a caller without one cannot launch them
        raise ForgeError(
            "data-parallel launch without the `forge train` command line (TrainRequest.argv)",
            "run `forge train DIR --gpus N` (or --nproc N) from the command line",
            exit_code=EXIT_USAGE,
        )
    return launch(project, plan, child_args(request.argv), echo=echo)


def train_here(project, cfg, request: TrainRequest, world, *, progress=None, console_handler=None):
    """The recipe in this process (the only one, or one rank)."""
    from forge.train.recipe import train

    if world.launched:
        world.write_pid(project)
    try:
        return train(
            project,
            cfg,
            backend=request.backend,
            resume=request.resume,
            force=request.force,
            progress=progress,
            console_handler=console_handler,
        )
    except ForgeError as e:
        if world.launched:
            world.write_exit(project, e.exit_code)
        raise


def exit_code(result, world) -> int:
    if world.launched and result.exit_code in (EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM):
        return EXIT_OK  # the launcher says 130/143 from the status, once every rank has checkpointed
    return result.exit_code
