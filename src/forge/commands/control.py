"""`forge train --detach`, `forge stop`, `forge runs`: parse, call forge.control, print
(torch-free). `forge status --wait` is forge.commands.status's.

Exit codes: --detach 0 once the run started, else train's own code for what it refused; stop 0 once
the holder let go of the lock, 1 with nothing running or a holder that would not let go; runs 0.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from forge.errors import EXIT_OK
from forge.project import Project


def _json(verb: str, doc: Any) -> None:
    from forge.commands.console import print_json  # the envelope every --json document opens with

    print_json(verb, doc, True)
    sys.stdout.flush()


def run_detached(directory: Path | None, argv: list[str], json_out: bool = False) -> int:
    from rich.markup import escape

    from forge.commands.console import console
    from forge.control.detach import start_detached
    from forge.hints import folder_arg

    project = Project.existing(directory)
    doc = start_detached(project, argv)
    if json_out:
        _json("train", doc)
        return EXIT_OK
    d = escape(folder_arg(project.root))
    console.print(
        f"[bold]forge train[/] {escape(str(project.root))}: run {doc['run_id'] or '(starting)'} in the background "
        f"(pid {doc['pid']}, {doc['phase']}); log: {escape(project.rel(project.log_file))}",
        highlight=False,
    )
    console.print(
        f"follow: [bold]forge status{d} --watch[/]; wait: [bold]forge status{d} --wait[/]; "
        f"stop: [bold]forge stop{d}[/]",
        highlight=False,
    )
    return EXIT_OK


def run_stop(directory: Path | None, json_out: bool = False, timeout: float | None = None) -> int:
    from rich.markup import escape

    from forge.commands.console import console
    from forge.control.stopping import STOP_TIMEOUT, stop_run

    project = Project.existing(directory)
    doc = stop_run(project, timeout=STOP_TIMEOUT if timeout is None else timeout)
    if json_out:
        _json("stop", doc)
        return EXIT_OK
    who = doc["stopped"]
    console.print(
        f"[bold]forge stop[/] {escape(str(project.root))}: sent SIGTERM to forge {who['verb'] or ''} "
        f"(pid {who['pid']}); it let go of the project lock ({doc.get('outcome') or 'stopped'})",
        highlight=False,
    )
    if doc.get("checkpoint"):
        console.print(f"checkpoint: {escape(doc['checkpoint'])}; continue with [bold]{escape(doc['resume'])}[/]")
    return EXIT_OK


def run_runs(directory: Path | None, json_out: bool = False) -> int:
    from forge.control.history import list_runs

    project = Project.existing(directory)
    runs = [r.to_dict() for r in list_runs(project)]
    if json_out:
        _json("runs", {"project": str(project.root), "runs": runs})
        return EXIT_OK
    _print_runs(project, runs)
    return EXIT_OK


STYLE = {"done": "green", "failed": "red", "crashed": "red", "interrupted": "yellow", "running": "cyan"}


def _print_runs(project: Project, runs: list[dict[str, Any]]) -> None:
    """One line a run (a table is too wide for a terminal): id, verb, outcome, steps, losses, gate, where."""
    from rich.markup import escape

    from forge.commands.console import console

    if not runs:
        console.print(f"[dim]no runs yet in {escape(str(project.root))}[/] (metrics/runs.jsonl is empty)")
        return
    console.print(f"[bold]forge runs[/] {escape(str(project.root))}")
    for r in runs:
        kind = f" ({r['error_kind']})" if r.get("error_kind") and r["outcome"] not in ("done", r["error_kind"]) else ""
        parts = [f"[{STYLE.get(r['outcome'], 'white')}]{escape(r['outcome'] + kind)}[/]"]
        if r.get("total_steps"):
            parts.append(f"{r['steps']}/{r['total_steps']} steps")
        if r.get("final_loss") is not None:
            parts.append(f"loss {_num(r['final_loss'])}")
        if r.get("eval_loss") is not None:
            parts.append(f"eval {_num(r['eval_loss'])}")
        gate = r.get("gate_passed") if r["verb"] == "train" else r.get("passed")
        if gate is not None:
            parts.append("gate passed" if gate else "gate failed")
        where = r.get("adapter") or r.get("checkpoint") or r.get("error")
        if where:
            parts.append(escape(str(where).splitlines()[0][:120]))
        ended = (r.get("ended_at") or r.get("started_at") or "").replace("T", " ").rstrip("Z")
        console.print(f"{escape(r['run_id'])}  {r['verb']:<8} {ended}  " + ", ".join(parts), highlight=False)


def _num(x) -> str:
    return f"{x:.4f}" if isinstance(x, (int, float)) else ""
