"""`forge train`: parse, call forge.train.start, print (progress bar, --json, the summary)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from forge.errors import EXIT_OK
from forge.project import Project


def run(
    directory: Path | None,
    config: Path | None = None,
    overrides: list[str] | None = None,
    backend: str | None = None,
    resume: bool = False,
    force: bool = False,
    gpus: str | None = None,
    nproc: int | None = None,
    json_out: bool = False,
    strategy: str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    argv: list[str] | None = None,
    detach: bool = False,
) -> int:
    if detach:  # the same command line, in a session of its own (forge.control.detach)
        from forge.commands.control import run_detached

        return run_detached(directory, list(sys.argv[1:] if argv is None else argv), json_out)
    from rich.markup import escape

    from forge.commands.console import console, err_console

    _train_on_after_a_broken_pipe(console, err_console)
    from forge.train.distributed import World
    from forge.train.start import TrainRequest, exit_code, launch_if_asked, load_run_config, train_here

    request = TrainRequest(
        config=config,
        overrides=list(overrides or []),
        backend=backend,
        resume=resume,
        force=force,
        strategy=strategy,
        gpus=gpus,
        nproc=nproc,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        argv=list(sys.argv[1:] if argv is None else argv),
    )
    project = Project.existing(directory)
    warn = lambda m: err_console.print(f"[yellow]{escape(m)}[/]", highlight=False)  # noqa: E731
    code = launch_if_asked(project, request, echo=None if json_out else print, warn=warn)
    if code is not None:
        return code
    world = World.current()
    cfg = load_run_config(project, request, world)  # a refusal is in the status and the log
    if world.is_main:
        from forge.commands.console import print_notes
        from forge.train.start import configured_with_notes

        print_notes(configured_with_notes(project, request).notes)  # --resume following the last run

    if json_out:
        from forge.progress_lines import for_output

        with for_output("train", json_out=True) as beat:  # stdout is the answer's: the lines go to stderr
            result = train_here(project, cfg, request, world, progress=beat.update_status)
        if world.is_main:
            from forge.commands.console import print_json

            print_json("train", dict(result.stats or result.status.to_dict()), result.exit_code == EXIT_OK)
        return exit_code(result, world)
    if world.launched:  # a rank: rank 0 prints, the others stay quiet
        handler = _ConsoleHandler(err_console) if world.is_main else None
        result = train_here(project, cfg, request, world, console_handler=handler)
        if world.is_main:
            _summary(console, project, result, cfg, request)
        return exit_code(result, world)

    console.print(f"[bold]forge train[/] {project.root}  model {cfg.model.name}")
    handler = _ConsoleHandler(err_console)
    if sys.stdout.isatty():
        with _ProgressBar(console) as bar:
            result = train_here(project, cfg, request, world, progress=bar.update, console_handler=handler)
    else:  # piped (CI, nohup, an agent): a plain line every FORGE_PROGRESS_SECONDS (forge.progress_lines)
        from forge.progress_lines import for_output

        with for_output("train") as beat:
            result = train_here(project, cfg, request, world, progress=beat.update_status, console_handler=handler)
    _summary(console, project, result, cfg, request)
    return exit_code(result, world)


def _train_on_after_a_broken_pipe(*consoles) -> None:
    """`forge train ... | head`: when the reader goes away, Rich's default is SystemExit(1), which
    went up through the recipe and left the status "validating", running, with no error. A run
    must not stop for its console: the console goes quiet (its file pointed at /dev/null, so the
    interpreter's last flush prints nothing either), the log file keeps every line."""
    import os

    def quiet(c):
        def on_broken_pipe() -> None:
            c.quiet = True
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), c.file.fileno())
            except (OSError, ValueError, AttributeError):  # no real file descriptor: quiet is enough
                pass

        return on_broken_pipe

    for c in consoles:
        c.on_broken_pipe = quiet(c)


class _ConsoleHandler(logging.Handler):
    """The recipe's notable lines (warnings, and the few info lines about choices) on stderr."""

    def __init__(self, console):
        super().__init__(logging.INFO)
        self.console = console
        self.gone = False  # the reader went away (`forge train ... | head`): train on, log only
        from forge.control.detach import DETACHED_ENV

        if os.environ.get(DETACHED_ENV):  # a detached run: its stderr is the log, which has each line already
            self.gone = True

    def emit(self, record):
        if self.gone or not getattr(record, "console", True):
            return
        msg = record.getMessage()
        if record.levelno < logging.WARNING and not msg.startswith(
            ("backend", "hf backend", "resum", "adapter", "export verified")
        ):
            return
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        from rich.markup import escape

        # escape: messages carry text like "pip install 'factory-forge[unsloth]'" that is not markup
        try:
            self.console.print(f"[{style}]{escape(msg.splitlines()[0])}[/]", highlight=False, markup=True)
        except OSError:  # BrokenPipeError: a closed pipe must not stop a run (the log file has every line)
            self.gone = True


class _ProgressBar:
    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("train", total=None, phase="starting", loss="-")
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def update(self, st) -> None:
        loss = f"{st.loss:.4f}" if st.loss is not None else "-"
        self.progress.update(self.task, completed=st.step, total=st.total_steps or None, phase=st.phase, loss=loss)


def _scope(stats: dict) -> str:
    """Which val examples the eval loss covers (train's evals may score a sample; evaluate scores all)."""
    scope = stats.get("eval_loss_scope")
    return f" (on {scope.split(' (')[0]})" if scope and stats.get("eval_loss") is not None else ""


def _summary(console, project: Project, result, cfg, request) -> None:
    """The end of a run: where its outputs are, as its config put them (never the defaults)."""
    from rich.markup import escape

    from forge.hints import folder_arg

    st = result.status
    if result.exit_code == EXIT_OK:
        s = result.stats
        where = project.outputs(cfg)
        saved = [f"adapter in {project.rel(where.lora)}"]
        if cfg.save.merged_path:
            saved.append(f"merged model in {project.rel(where.merged)}")
        if cfg.save.gguf_path:
            saved.append(f"GGUF in {project.rel(where.gguf)}")
        saved.append(f"checkpoints in {project.rel(where.checkpoints)}")
        console.print(
            f"[bold green]done[/]: {s.get('total_steps')} steps, final loss {_num(s.get('final_loss'))}, "
            f"eval loss {_num(s.get('eval_loss'))}{_scope(s)}, {s.get('duration_seconds')} s; "
            f"{escape(', '.join(saved))}",
            highlight=False,
        )
        data = s.get("data") or {}
        if data.get("dropped_no_trained_tokens"):  # said during the run too; the summary must not hide it
            first = f"; first: {data['first_error']}" if data.get("first_error") else ""
            console.print(
                f"[yellow]{data['dropped_no_trained_tokens']} of {data.get('total')} training examples dropped "
                f"with no trained token{escape(first)}[/]",
                highlight=False,
            )
        # the same config for what comes next (the verbs also follow this run without them): the source
        # this run recorded; asking run_source again after the run follows this run a second time, and a
        # resume's --set came out twice (`--set training.max_steps=140 --set training.max_steps=140`)
        flags = _recorded_source(project, result, request).flags(project)
        flags = escape(folder_arg(project.root) + (f" {flags}" if flags else ""))
        console.print(
            f"next: [bold]forge verify{flags}[/] (outputs checklist), then [bold]forge evaluate{flags}[/]",
            highlight=False,
        )
    elif st.phase == "interrupted":
        console.print(f"[bold yellow]interrupted[/]: {escape(st.message or '')}")
        # the status's message says `forge train --resume` for any reader; the command to paste names
        # the folder (run from elsewhere it would resume nothing). A plain --resume reads the run's
        # own config again (forge.train.start.run_source); with no checkpoint it is the same command.
        # The options are the disk's answer (forge.train.again): a checkpoint to continue (also after
        # a second Ctrl-C, whose result names none), or a --force that never got one of its own.
        from forge.train.again import train_options

        options = train_options(project, force=request.force and not request.resume, run_id=st.run_id)
        checkpoint = (result.stats or {}).get("checkpoint")  # the one this run saved, when it names one
        if options == "--resume" or (checkpoint and checkpoint != "none"):
            again = folder_arg(project.root) + " --resume"
        else:
            flags = _recorded_source(project, result, request).flags(project)
            again = folder_arg(project.root) + "".join(f" {x}" for x in (flags, options) if x)
        console.print(f"next: [bold]forge train{escape(again)}[/]", highlight=False)
    else:
        from forge.train.again import accepted_hints

        console.print(f"[bold red]{st.phase}[/]: {escape(st.error or st.message or '')}")
        if st.solution:
            fix = accepted_hints(st.solution, project, force=request.force and not request.resume)
            console.print(f"[bold]fix:[/] {escape(fix)}")


def _recorded_source(project: Project, result, request):
    """The config source the run recorded in its status (extra.config_source); run_source where none is."""
    from forge.config.verb_config import ConfigSource
    from forge.train.start import run_source

    extra = getattr(result.status, "extra", None)  # a run refused before its status was written has none
    extra = extra if isinstance(extra, dict) else {}
    return ConfigSource.from_record(project, extra.get("config_source")) or run_source(project, request)


def _num(x) -> str:
    return f"{x:.4f}" if isinstance(x, (int, float)) else "-"
