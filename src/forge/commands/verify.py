"""`forge verify`: print the outputs checklist; exit 0 when nothing failed, else 1.

A quality check whose input is another run's (forge.check.staleness) is a failed item marked
`stale`: verify exits 1 and says so, since the last run's outputs were not judged. `--json` adds
`stale` (true when any item is) beside `ok`; every item carries its own `stale` flag.

The folders checked are the config's (forge.config.verb_config: --config / --set, else the config of the
last run when that run put its outputs elsewhere); `--json` says which under `config`.
"""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_FAIL, EXIT_OK
from forge.project import Project

# "skip": a check that could not run (shown as not checked, never as passed)
MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "skip": "[dim]–[/]"}


def run(
    directory: Path | None, json_out: bool = False, config: Path | None = None, overrides: list[str] | None = None
) -> int:
    from forge.check.outputs import SECTIONS, run_verify
    from forge.commands.console import print_notes
    from forge.config.verb_config import load_verb_config

    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides)  # a broken config: exit 2, naming the file
    print_notes(chosen.notes)
    cl = run_verify(project, chosen.cfg).name_folder(directory)
    from forge.train.again import accepted_hints

    for item in cl.items:  # "run `forge train`" where checkpoints are: the options train accepts then
        item.fix = accepted_hints(item.fix, project)
    code = EXIT_OK if cl.ready else EXIT_FAIL
    if json_out:
        out = {"ok": cl.ready, "project": str(project.root), "sections": cl.to_dict()["sections"]}
        out["stale"] = bool(cl.stale)
        out["config"] = chosen.describe(project)
        evaluation = _evaluation(project)
        if evaluation is not None:  # the "Baseline vs fine-tuned" rows, a value per artifact
            out["comparison"] = evaluation.comparison()
            out["artifacts"] = [r.summary() for r in evaluation.rows()]
        from forge.commands.console import print_json

        print_json("verify", out, cl.ready)
        return code
    from rich.markup import escape

    from forge.commands.console import console

    console.print(f"[bold]forge verify[/] {escape(str(project.root))}")
    sections = cl.sections()
    for name in SECTIONS:
        console.print(f"\n[bold]{name}[/]")
        for item in sections.get(name, []):
            detail = f": {escape(item.detail)}" if item.detail else ""
            tag = " [yellow](stale)[/]" if item.stale else ""
            console.print(f"  {MARKS.get(item.status, '?')} {escape(item.name)}{tag}{detail}")
            if item.fix and item.status != "ok":
                console.print(f"      [dim]fix:[/] {escape(item.fix)}")
    evaluation = _evaluation(project)
    if evaluation is not None and len(evaluation.rows()) > 1:
        from forge.commands.evaluate import print_columns

        console.print()
        print_columns(evaluation)
    stale = ": the quality checks read another run's stats (stale)" if cl.stale else ""
    console.print("\n" + ("[bold green]outputs verified[/]" if cl.ready else f"[bold red]outputs not ready[/]{stale}"))
    return code


def _evaluation(project: Project):
    """metrics/evaluation.json, or None (absent or unreadable: the checklist says so)."""
    from forge.records.base import try_read_record
    from forge.records.evaluate import EvaluationRecord

    return try_read_record(project.evaluation_file, EvaluationRecord)[0]
