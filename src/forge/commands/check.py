"""`forge check`: print the pre-training checklist."""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_FAIL, EXIT_OK
from forge.project import Project

# "skip": an item that could not be judged (e.g. the model is not here): never shown as passed
MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "skip": "[dim]–[/]"}


def run(
    directory: Path | None,
    json_out: bool = False,
    overrides: list[str] | None = None,
    config: Path | None = None,
    resume: bool = False,
    force: bool = False,
) -> int:
    """`config`: the file `--config` names, read as `forge train --config` reads it (forge.config.config_path);
    `resume`, `force`: check the start of `forge train --resume` / `--force` (the same decision train makes)."""
    from forge.check.before import SECTIONS, run_checklist

    project = Project.existing(directory)
    cl = run_checklist(project, overrides, config=config, resume=resume, force=force).name_folder(directory)
    if json_out:
        out = cl.to_dict()
        out["project"] = str(project.root)
        from forge.commands.console import print_json

        print_json("check", out, cl.ready)
        return EXIT_OK if cl.ready else EXIT_FAIL
    from rich.markup import escape

    from forge.commands.console import console

    flags = "".join(f" {f}" for f, on in (("--resume", resume), ("--force", force)) if on)
    console.print(f"[bold]forge check[/] {escape(str(project.root))}{flags}")
    sections = cl.sections()
    for name in SECTIONS:
        console.print(f"\n[bold]{name}[/]")
        for item in sections.get(name, []):
            detail = escape(item.detail.splitlines()[0]) if item.detail else ""
            console.print(f"  {MARKS[item.status]} {escape(item.name)}" + (f": {detail}" if detail else ""))
            for extra in item.detail.splitlines()[1:]:
                console.print(f"      {escape(extra)}", highlight=False)
            if item.fix and item.status != "ok":
                console.print(f"      [dim]fix:[/] {escape(item.fix)}")
    verdict = "[bold green]ready to train[/]" if cl.ready else "[bold red]not ready[/]"
    console.print(f"\n{verdict}")
    return EXIT_OK if cl.ready else EXIT_FAIL
