"""`forge init DIR`: the project layout, a config with $schema, and scripts/train.py."""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_OK
from forge.project import CONFIG_NAME
from forge.scaffold import init_project


def run(directory: Path, example: str | None = None, model: str | None = None) -> int:
    from forge.commands.console import console

    project, written = init_project(directory, example=example, model=model)
    console.print(f"[bold]forge init[/] {project.root}")
    for w in written:
        console.print(f"  wrote {Path(w).relative_to(project.root)}")
    if not written:
        console.print("  nothing new: every file already existed and was kept")
    console.print(f"next: put data in data/splits/ and run [bold]forge check {directory}[/] (config: {CONFIG_NAME})")
    return EXIT_OK
