"""`forge status [DIR] [--watch] [--json]`: the live training status in the terminal.

Exit codes: 1 when the last run failed or crashed (a stale running status whose writer no longer
holds the project lock), or when the status file is damaged (unreadable, or values of the wrong
type: the problems are shown with the fix); 0 for everything else (no run yet, running, done,
interrupted with a checkpoint to resume from).
`--watch` refreshes in place until the run reaches a final phase (or Ctrl-C) and exits by the
same rule; `--watch --json` prints one JSON line per change instead. `--wait [--timeout S]` blocks
until the run ends and exits with its outcome (run_wait, forge.control.waiting).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from forge.errors import EXIT_FAIL, EXIT_OK
from forge.hints import name_folder
from forge.project import Project
from forge.status import RESUME_FIX
from forge.web.readers import HistoryReader, format_duration, loss_sparkline, status_failed, status_view

PHASE_STYLE = {
    "idle": "dim",
    "done": "bold green",
    "failed": "bold red",
    "crashed": "bold red",
    "interrupted": "bold yellow",
}


def exit_code(view: dict[str, Any]) -> int:
    return EXIT_FAIL if status_failed(view) else EXIT_OK


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "—"
    if spec and isinstance(v, (int, float)):
        return format(v, spec)
    return str(v)


def _epochs(v: Any) -> str:
    """An epoch count as the web page writes it (2 decimals, trailing zeros cut): the epoch and its
    total in one format, so that a finished run reads 1.88 / 1.88, never 1.88 / 1.875."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return _fmt(v)
    return f"{v:.2f}".rstrip("0").rstrip(".")


def render(project: Project, view: dict[str, Any], history: HistoryReader | None = None):
    """A Rich renderable of the status (the same facts the web page shows)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    phase = view["effective_phase"]
    title = Text.assemble(("forge status ", "bold"), (str(project.root), ""))
    problems = _problems(view)
    if phase == "unreadable":  # nothing in it can be shown: only what is wrong and what to do
        head = Text(f" {phase} ", style="bold red reverse")
        return Panel(Group(head, *problems), title=title, title_align="left")
    if not view["exists"]:
        hint = name_folder(
            "start one with `forge train`; `forge check` tells whether the project is ready", project.root
        )
        body = Text.from_markup(f"[dim]no run yet[/] (.factory/training-status.json is missing)\n{escape(hint)}")
        return Panel(body, title=title, title_align="left")

    head = Table.grid(padding=(0, 2))
    head.add_column()
    head.add_column()
    head.add_column()
    step, total = view["step"], view["total_steps"]
    pct = f"{100 * step / total:.1f}%" if total else ""
    bar = ProgressBar(total=total or 1, completed=min(step, total) if total else 0, width=40)
    head.add_row(
        Text(f" {phase} ", style=PHASE_STYLE.get(phase, "bold cyan") + " reverse"), bar, f"{step}/{total} {pct}"
    )

    t = Table.grid(padding=(0, 3))
    for _ in range(4):
        t.add_column()
    epoch = f"{_epochs(view['epoch'])} / {_epochs(view['total_epochs'])}"
    t.add_row("epoch", epoch, "ETA", format_duration(view.get("eta_seconds")) if not view["final"] else "—")
    extra = view.get("extra") if isinstance(view.get("extra"), dict) else {}
    used, of = extra.get("eval_samples"), extra.get("val_samples")  # set when evals score a sample of val
    sample = f" ({used}/{of} val)" if isinstance(used, int) and isinstance(of, int) and used < of else ""
    t.add_row("loss", _fmt(view.get("loss"), ".4f"), f"eval loss{sample}", _fmt(view.get("eval_loss"), ".4f"))
    t.add_row(
        "learning rate", _fmt(view.get("learning_rate"), ".3g"), "tokens/s", _fmt(view.get("tokens_per_second"), ",.0f")
    )
    vram = view.get("peak_vram_gb")
    t.add_row(
        "peak VRAM", f"{vram:.1f} GB" if isinstance(vram, (int, float)) else "—", "backend", _fmt(view.get("backend"))
    )
    t.add_row("model", escape(_fmt(view.get("model"))), "run", escape(_fmt(view.get("run_id"))))
    t.add_row("started", _fmt(view.get("started_at")), "checkpoint", _fmt(view.get("checkpoint_at")))
    age = view.get("age_seconds")
    updated = _fmt(view.get("last_updated")) + (f" ({format_duration(age)} ago)" if age is not None else "")
    t.add_row(
        "updated",
        updated,
        "pid",
        f"{_fmt(view.get('pid'))}" + ("" if view.get("pid_alive") in (None, True) else " (gone)"),
    )
    parts: list[Any] = [head, t]

    if history is not None:
        losses = history.column("loss")
        spark = loss_sparkline(losses, 60)
        if spark:
            # a run at step 0 has logged no loss: the history is the run before's (a refused or
            # failed --force run puts it back), and drawn unlabelled it read as this run's curve
            label = "loss  " if step else "loss of the run before  "
            parts.append(Text.assemble((label, "dim"), (spark, "cyan")))
    if phase == "crashed":
        parts.append(
            Text.from_markup(
                f"[bold red]crashed:[/] the status says {escape(view['phase'])}, but {_writer_gone(view)} "
                f"and {_unchanged(age)}.\n"
                f"[bold]fix:[/] {escape(str(view['solution'] or RESUME_FIX))}"
            )
        )
    if view.get("error") or phase == "failed":
        kind = f" ({escape(str(view['error_kind']))})" if view.get("error_kind") else ""
        parts.append(Text.from_markup(f"[bold red]error{kind}:[/] {escape(_fmt(view.get('error')))}"))
        if view.get("solution"):
            from forge.train.again import accepted_hints  # a plain `forge train` where checkpoints are: its options

            fix = accepted_hints(str(view["solution"]), project)
            parts.append(Text.from_markup(f"[bold]fix:[/] {escape(fix)}"))
    if view.get("message"):
        parts.append(Text(str(view["message"]), style="dim"))
    before = (view.get("extra") or {}).get("previous_run")
    if isinstance(before, dict) and before.get("run_id"):
        # the run this one replaced (a refused train writes "failed"; the finished run stays known)
        steps = f" at step {before.get('step')}/{before.get('total_steps')}" if before.get("total_steps") else ""
        when = f" ({before['completed_at']})" if before.get("completed_at") else ""
        # the same run_id: the attempt before of the run a --resume continues (or was refused to)
        which = "before this attempt" if before["run_id"] == view.get("run_id") else "the run before"
        parts.append(Text(f"{which}: {before['run_id']} ended {before.get('phase', '?')}{steps}{when}", style="dim"))
    parts.extend(problems)
    return Panel(Group(*parts), title=title, title_align="left")


class _WatchEnd:
    """When `--watch` stops: at a final phase, but not while a `forge train` holds the project lock
    (a new run writes its status next), and a run already over when the watch began is given
    GRACE_SECONDS first. `forge train P & forge status P --watch --json` printed the previous run's
    "done" and ended, 0.6 s before the new run took the lock and wrote its status."""

    GRACE_SECONDS = 1.0

    def __init__(self, project: Project, first: dict[str, Any]):
        self.project = project
        self.t0 = time.monotonic()
        self.ended_before = _run_key(first) if first["final"] else None

    def __call__(self, view: dict[str, Any]) -> bool:
        from forge.lock import holder

        if not view["final"]:
            return False
        held = holder(self.project)
        if held is not None and held[1] == "train":
            return False
        if self.ended_before is not None and _run_key(view) == self.ended_before:
            return time.monotonic() - self.t0 >= self.GRACE_SECONDS
        return True


def _run_key(view: dict[str, Any]) -> tuple:
    return (view.get("run_id"), view.get("started_at"), view.get("phase"))


def _writer_gone(view: dict[str, Any]) -> str:
    if not view.get("pid"):  # the original layout has no pid: only the lock and the file's age tell
        return "no process holds the project lock (the status records no pid)"
    if view.get("pid_alive") is False:
        return f"process {view.get('pid')} is gone"
    # the pid lives, but another process was given the dead writer's number
    return f"no forge process holds the project lock (process {view.get('pid')} is not the writer)"


def _unchanged(age: float | None) -> str:
    return f"the file has not changed for {format_duration(age)}" if age is not None else "the file has no last_updated"


def _problems(view: dict[str, Any]) -> list[Any]:
    """The damaged-file lines: each problem, then the fix once (it is the same for all)."""
    from rich.markup import escape
    from rich.text import Text

    problems = view.get("problems") or []
    if not problems:
        return []
    lines: list[Any] = [
        Text.from_markup(f"[bold red]damaged status file:[/] {escape(str(p.get('message')))}") for p in problems
    ]
    lines.append(Text.from_markup(f"[bold]fix:[/] {escape(str(problems[0].get('fix')))}"))
    return lines


def json_view(view: dict[str, Any]) -> dict[str, Any]:
    out = dict(view)
    out["eta_human"] = format_duration(view.get("eta_seconds"))
    return out


def run(
    directory: Path | None,
    watch: bool = False,
    json_out: bool = False,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
    wait: bool = False,
) -> int:
    project = Project.existing(directory)
    if wait:  # block until the run ends; exit with its outcome (forge.control.outcome), 124 on --timeout
        return run_wait(project, json_out, timeout, interval)
    view = status_view(project)
    if json_out and not watch:
        from forge.commands.console import print_json

        print_json("status", json_view(view), exit_code(view) == 0)
        return exit_code(view)

    from forge.commands.console import console

    history = HistoryReader(project.history_file)
    if not watch:
        console.print(render(project, view, history))
        return exit_code(view)

    deadline = None if timeout is None else time.monotonic() + timeout
    over = _WatchEnd(project, view)
    if json_out:  # one JSON line per change, for programs that follow a run
        last = None
        try:
            while True:
                key = json.dumps({k: v for k, v in view.items() if k != "age_seconds"}, sort_keys=True, default=str)
                if key != last:
                    last = key
                    from forge.commands.console import print_json

                    print_json("status", json_view(view), exit_code(view) == 0, indent=None)
                    sys.stdout.flush()
                if over(view) or (deadline and time.monotonic() > deadline):
                    break
                time.sleep(interval)
                view = status_view(project)
        except KeyboardInterrupt:
            pass
        return exit_code(view)

    from rich.live import Live

    try:
        with Live(render(project, view, history), console=console, refresh_per_second=4, transient=False) as live:
            while not over(view) and not (deadline and time.monotonic() > deadline):
                time.sleep(interval)
                view = status_view(project)
                live.update(render(project, view, history))
    except KeyboardInterrupt:
        pass
    return exit_code(view)


def run_wait(project: Project, json_out: bool, timeout: float | None, interval: float = 0.5) -> int:
    from rich.markup import escape

    from forge.commands.console import console, err_console
    from forge.control.waiting import wait_for_run
    from forge.hints import folder_arg

    state = wait_for_run(project, timeout=timeout, interval=interval)
    if json_out:
        from forge.commands.console import print_json

        print_json("status", json_view(state.view), state.code == 0)
    else:
        console.print(render(project, state.view))
    if state.timed_out:
        err_console.print(
            f"[yellow]--timeout {timeout:g} s passed; the run goes on[/] (exit 124): wait again, or "
            f"`forge stop{escape(folder_arg(project.root))}`",
            highlight=False,
        )
    elif not state.view.get("exists"):
        err_console.print("[yellow]no run yet[/] (exit 1): start one with `forge train`", highlight=False)
    return state.code
