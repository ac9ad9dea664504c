"""`forge split DIR --from FILE`: train and val splits from one file (forge.data.split), printed."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from forge.errors import EXIT_OK
from forge.project import Project


def split_verb(run_verb, dir_arg, json_opt):
    """The typer command of `forge split` (forge.cli registers it): run_verb is forge.cli's _run."""

    def split(
        directory: Optional[Path] = dir_arg,  # noqa: UP045 (typer reads the annotation)
        source: Path = typer.Option(
            ..., "--from", metavar="FILE", help="One file of conversations (JSONL or a JSON array)."
        ),
        val_fraction: float = typer.Option(
            0.1, "--val-fraction", metavar="FRACTION", help="Share of the conversations for val."
        ),
        seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of the shuffle (the same seed, the same split)."),
        force: bool = typer.Option(False, "--force", help="Replace data/splits/train.jsonl and val.jsonl."),
        json_out: bool = json_opt,
    ) -> None:
        """Write data/splits/train.jsonl and val.jsonl from one file in any accepted format: exact
        duplicates dropped, val answers kept out of train, what was dropped reported."""
        run_verb(run, directory, source, val_fraction=val_fraction, seed=seed, force=force, json_out=json_out)

    return split


def run(
    directory: Path | None,
    source: Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
    json_out: bool = False,
) -> int:
    from forge.data.split import split_file

    project = Project.existing(directory)
    report = split_file(project, source, val_fraction=val_fraction, seed=seed, force=force)
    if json_out:
        from forge.commands.console import print_json

        print_json("split", {"project": str(project.root), **report.to_dict()}, True)
        return EXIT_OK
    from rich.markup import escape

    from forge.commands.console import console
    from forge.hints import folder_arg

    r = report
    console.print(f"[bold]forge split[/] {escape(str(project.root))} from {escape(r.source)} ({r.format})")
    console.print(f"  {r.records} conversations read; {r.duplicates} exact duplicate(s) dropped", highlight=False)
    from forge.data.validate import locate

    for d in r.duplicates_listed[:5]:
        first = locate(r.source, d["first_line"], d["first_item"])
        console.print(f"    {escape(locate(r.source, d['line'], d['item']))} repeats {escape(first)}", highlight=False)
    console.print(
        f"  train {r.train}, val {r.val} ({r.val_fraction:.1%} of the kept; asked {r.val_fraction_asked:.1%}, "
        f"seed {r.seed})",
        highlight=False,
    )
    if r.answer_groups:
        console.print(
            f"  {r.grouped_records} conversations share an answer with another ({r.answer_groups} groups): each "
            f"group went whole to train or to val, so no val answer is in train"
            + (f"; {r.too_large_for_val} in groups larger than val stayed in train" if r.too_large_for_val else ""),
            highlight=False,
        )
    for w in r.written:
        console.print(f"  {'replaced' if w in r.replaced else 'wrote'} {escape(w)}")
    console.print(f"next: [bold]forge check{escape(folder_arg(project.root))}[/]")
    return EXIT_OK
