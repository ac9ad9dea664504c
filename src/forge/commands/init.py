"""`forge init DIR`: the project layout, a config with $schema, and scripts/train.py."""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_OK
from forge.init.scaffold import check_existing, init_project
from forge.project import CONFIG_NAME


def init_document(directory: Path, example: str | None = None, model: str | None = None) -> dict:
    """`forge init --json`'s document (the MCP init tool's result): what was written, and the notes."""
    check_existing(directory, example=example, model=model)  # refuses before anything is written
    notes: list[str] = []
    project, written = init_project(directory, example=example, model=model, notes=notes)
    return {
        "ok": True,
        "project": str(project.root),
        "written": [str(Path(w).relative_to(project.root)) for w in written],
        "notes": notes,
        "data": project.train_file.is_file(),  # the train split is there (the example's, or the format step's)
    }


def run(directory: Path, example: str | None = None, model: str | None = None, json_out: bool = False) -> int:
    from rich.markup import escape

    from forge.commands.console import console
    from forge.hints import folder_arg

    if json_out:
        from forge.commands.console import print_json

        print_json("init", init_document(directory, example, model), True)
        return EXIT_OK
    check_existing(directory, example=example, model=model)  # refuses before anything is written
    notes: list[str] = []
    project, written = init_project(directory, example=example, model=model, notes=notes)
    console.print(f"[bold]forge init[/] {escape(str(project.root))}")
    folders: dict[str, int] = {}
    for w in written:
        rel = Path(w).relative_to(project.root)
        if rel.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):  # an example's pictures: one line a folder
            folders[str(rel.parent)] = folders.get(str(rel.parent), 0) + 1
            continue
        console.print(f"  wrote {escape(str(rel))}")
    for folder, n in folders.items():
        console.print(f"  wrote {escape(folder)}/ ({n} images)")
    for n in notes:
        console.print(f"  [yellow]![/] {escape(n)}")
    if not written and not notes:
        console.print("  nothing new: every file already existed and was kept")
    check = f"[bold]forge check{escape(folder_arg(project.root))}[/] (config: {CONFIG_NAME})"
    if project.train_file.is_file():  # the data is there (the example's, or the format step's)
        kept = [f for f in (project.train_file, project.val_file) if f.is_file() and str(f) not in written]
        if kept:
            console.print(f"  data already there: {escape(', '.join(project.rel(f) for f in kept))}")
        console.print(f"next: {check}")
    else:
        console.print(f"next: put data in data/splits/ and run {check}")
    return EXIT_OK
