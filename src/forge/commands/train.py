"""`forge train`: the CLI verb around forge.train.run (progress bar, --json, exit codes)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from forge.errors import EXIT_OK, EXIT_USAGE, ForgeError
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
) -> int:
    from forge.config import load_config
    from forge.train import distributed

    project = Project.at(directory)
    if (gpus is not None or nproc is not None) and not distributed.is_child():
        # data-parallel: re-run this command under torchrun, one process per GPU (forge.train.distributed)
        n, comm = distributed.resolve_processes(gpus, nproc)
        if n > 1:
            if not project.root.is_dir():
                raise ForgeError(f"{project.root} is not a folder", "run `forge init DIR` first", exit_code=EXIT_USAGE)
            load_config(
                project.path(config) if config else project.config_file, overrides or []
            )  # refuse bad config here
            args = distributed.child_argv(project.root, config, overrides, backend, resume, force, json_out)
            return distributed.launch(project, n, comm, args, echo=None if json_out else print)
    if distributed.is_child():
        distributed.write_pid(project)
    if not project.root.is_dir():
        raise ForgeError(f"{project.root} is not a folder", "run `forge init DIR` first", exit_code=EXIT_USAGE)
    config_path = project.path(config) if config else project.config_file
    if config and not config_path.exists():
        raise ForgeError(
            f"--config {config}: file not found", "pass an existing training-config.json", exit_code=EXIT_USAGE
        )
    cfg = load_config(config_path, overrides or [])

    from forge.train.run import train

    show = not json_out and sys.stdout.isatty()
    if distributed.is_child():
        # a rank: rank 0 prints; an interruption exits 0 so torchrun does not kill the peers mid-checkpoint
        # (the launcher turns the status into the exit code)
        from forge.commands.console import console, err_console

        show = not json_out and distributed.is_main()
        handler = _ConsoleHandler(err_console) if show else None
        try:
            result = train(project, cfg, backend=backend, resume=resume, force=force, console_handler=handler)
        except ForgeError as e:
            distributed.write_exit(project, e.exit_code)
            raise
        if json_out and distributed.is_main():
            sys.stdout.write(json.dumps(result.stats or result.status.to_dict(), indent=2, default=str) + "\n")
        elif show:
            _summary(console, project, result)
        return 0 if result.exit_code in (0, 130, 143) else result.exit_code
    if json_out:
        result = train(project, cfg, backend=backend, resume=resume, force=force)
        sys.stdout.write(json.dumps(result.stats or result.status.to_dict(), indent=2, default=str) + "\n")
        return result.exit_code

    from forge.commands.console import console, err_console

    console.print(f"[bold]forge train[/] {project.root}  model {cfg.model.name}")
    handler = _ConsoleHandler(err_console)
    if show:
        with _ProgressBar(console) as bar:
            result = train(
                project, cfg, backend=backend, resume=resume, force=force, progress=bar.update, console_handler=handler
            )
    else:
        result = train(project, cfg, backend=backend, resume=resume, force=force, console_handler=handler)
    _summary(console, project, result)
    return result.exit_code


class _ConsoleHandler(logging.Handler):
    """The recipe's notable lines (warnings, and the few info lines about choices) on stderr."""

    def __init__(self, console):
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record):
        if not getattr(record, "console", True):
            return
        msg = record.getMessage()
        if record.levelno < logging.WARNING and not msg.startswith(
            ("backend", "hf backend", "resum", "adapter", "export verified")
        ):
            return
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        from rich.markup import escape

        # escape: messages carry text like "pip install 'factory-forge[unsloth]'" that is not markup
        self.console.print(f"[{style}]{escape(msg.splitlines()[0])}[/]", highlight=False, markup=True)


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


def _summary(console, project: Project, result) -> None:
    from rich.markup import escape

    st = result.status
    if result.exit_code == EXIT_OK:
        s = result.stats
        console.print(
            f"[bold green]done[/]: {s.get('total_steps')} steps, final loss {_num(s.get('final_loss'))}, "
            f"eval loss {_num(s.get('eval_loss'))}, {s.get('duration_seconds')} s; adapter in "
            f"{project.lora_dir.relative_to(project.root)}"
        )
        console.print("next: [bold]forge verify[/] (outputs checklist), then [bold]forge evaluate[/]")
    elif st.phase == "interrupted":
        console.print(f"[bold yellow]interrupted[/]: {escape(st.message or '')}")
    else:
        console.print(f"[bold red]{st.phase}[/]: {escape(st.error or st.message or '')}")
        if st.solution:
            console.print(f"[bold]fix:[/] {escape(st.solution)}")


def _num(x) -> str:
    return f"{x:.4f}" if isinstance(x, (int, float)) else "-"
