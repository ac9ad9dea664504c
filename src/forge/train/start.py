"""What `forge train` does before and after the recipe: launch the ranks, or train in this process.

The command (forge.commands.train) parses, calls these, and prints:

    code = launch_if_asked(project, request, echo)   # a launcher: the ranks' exit code; else None
    cfg = load_run_config(project, request)          # --config / --set, refused with the key and fix
    result = train_here(project, cfg, request, world, progress=..., console_handler=...)
    exit_code(result, world)

`read_run_config` (configured_config, then resumed_config) is the decision itself and writes
nothing: `forge check --resume/--force` asks the same two steps, so that check fails exactly what
this refuses, with the same words. `load_run_config` is
train's: a refusal there, and any other refusal before the recipe runs (the launch options), is
recorded as the recipe records its own (forge.train.run_status.refuse: the status, with the run
before kept under `extra.previous_run`, and the log line), so that `forge status` and the web UI
show it.

A rank under the launcher records its pid (the launcher signals it and checks none is left
behind), leaves its exit code for the launcher, and exits 0 on an interruption, so that torchrun
does not kill the other ranks in the middle of their common checkpoint (the launcher turns the
status into 130/143).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


def configured_config(project, request: TrainRequest):
    """The config file (or --config) + --set: what a new run trains with (refused with the key and fix)."""
    return configured_with_notes(project, request).cfg


def configured_with_notes(project, request: TrainRequest):
    """configured_config with the config's source and notes (forge.config.verb_config.VerbConfig): `--resume`
    without --config follows the last run started, when training-config.json keeps checkpoints
    elsewhere (forge.config.verb_config.load_resume_config)."""
    from forge.config import config_path, load_config
    from forge.config.verb_config import VerbConfig, given_source, load_resume_config

    _require_folder(project)
    if request.resume and request.config is None:
        return load_resume_config(project, request.overrides or [])
    # the same rule as check and plan: the file they checked is the file this run reads
    path = config_path(project.root, request.config) if request.config else project.config_file
    return VerbConfig(
        load_config(path, request.overrides or []), given_source(project, request.config, request.overrides)
    )


def resumed_config(project, request: TrainRequest, configured):
    """`--resume` onto a valid checkpoint: the run's own recorded config (outputs/forge-run.json) +
    the --set values that are safe to change on resume (forge.train.resolved.resume_config, which
    refuses the others); `configured` itself without --resume or without a checkpoint to continue."""
    if not request.resume:
        return configured
    from forge.train.integrity import newest_valid
    from forge.train.resolved import resume_config

    output_dir = project.outputs(configured).checkpoints
    ckpt = newest_valid(output_dir)  # quietly: start_point names every checkpoint it skips
    if ckpt is None:  # nothing to continue: a new run (or the no_valid_checkpoint refusal), from the file
        return configured
    return resume_config(configured, request.overrides or [], output_dir, ckpt.step, force=request.force)


def read_run_config(project, request: TrainRequest):
    """The config this call trains with; writes nothing (`forge check` asks it too).

    A new run: the config file (or --config) + --set. `--resume` onto a valid checkpoint: the run's
    own recorded config + the safe --set values; the file only locates the output folder.
    """
    return resumed_config(project, request, configured_config(project, request))


def described_config(project, request: TrainRequest):
    """The config of a call whose own was refused, to describe the run it meant: with --resume, the
    run's as it would resume without this call's --set; else the file's; None when even that does
    not load (the status of a refused train names its model; check checks its other items on it)."""
    tries = [request.overrides, []] if request.overrides else [[]]
    for sets in tries:  # this call's --set, then without them: they may be what was refused
        asked = replace(request, overrides=list(sets))
        try:
            configured = configured_config(project, asked)
        except ForgeError:
            continue
        try:
            return resumed_config(project, asked, configured)
        except ForgeError:
            if sets:
                continue
            return configured
    return None


def load_run_config(project, request: TrainRequest, world=None):
    """read_run_config for `forge train`: a refusal is recorded (status and log), then raised."""
    try:
        return read_run_config(project, request)
    except ForgeError as e:
        _record_refusal(project, request, e, world)
        raise


def _record_refusal(project, request: TrainRequest, error: ForgeError, world=None) -> None:
    """A refusal before the recipe ran, into the status and the log as the recipe's own (refuse).

    Not for a folder that does not exist (a typo makes no project), nor on a machine of a
    multi-node run other than the one of rank 0 (that one's status is the run's)."""
    if not project.root.is_dir() or (request.node_rank or 0) != 0:
        return
    from forge.train.run_status import refuse

    refuse(project, error, cfg=described_config(project, request), resume=request.resume, world=world)


def launch_if_asked(project, request: TrainRequest, echo=None, warn=None) -> int | None:
    """With --gpus/--nproc/--nnodes asking for more than one process: run them, return their exit code.

    `warn` hears of options that change nothing (fsdp on one process: nothing to shard)."""
    from forge.train.distributed.argv import child_args
    from forge.train.distributed.launch import launch, plan_launch
    from forge.train.distributed.world import World

    if World.current().launched:
        return None  # a rank: it trains
    r = request
    try:
        plan = plan_launch(r.gpus, r.nproc, r.strategy, r.nnodes, r.node_rank, r.rdzv_endpoint)
    except ForgeError as e:  # --gpus / --nproc / --nnodes refused: a refused train like any other
        if e.kind == ForgeError.kind:
            e.kind = "usage"  # the status contract's kind for a command-line value refused before training
        _record_refusal(project, request, e)
        raise
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
    """The recipe in this process (the only one, or one rank); its stats record the config file and
    --set it read (forge.config.verb_config: how export, verify and evaluate find its outputs after it)."""
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
            source=run_source(project, request).record(project),
        )
    except ForgeError as e:
        if world.launched:
            world.write_exit(project, e.exit_code)
        raise


def run_source(project, request: TrainRequest):
    """The config file and --set this call reads (a followed run's with a plain --resume)."""
    from forge.config.verb_config import given_source
    from forge.errors import ForgeError as _Err

    try:
        return configured_with_notes(project, request).source
    except _Err:
        return given_source(project, request.config, request.overrides)


def exit_code(result, world) -> int:
    if world.launched and result.exit_code in (EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM):
        return EXIT_OK  # the launcher says 130/143 from the status, once every rank has checkpointed
    return result.exit_code
