"""`forge inspect`: one example as training sees it: the template's text, special tokens, the
trained spans highlighted, each image's tokens, where truncation cuts, and the counts. `--json`
gives the token ids and labels (the ones training uses: forge.train.inspect)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from forge.errors import EXIT_OK
from forge.project import Project


def run(
    directory: Path | None,
    split: str = "train",
    example: int = 1,
    json_out: bool = False,
    config: Path | None = None,
    overrides: list[str] | None = None,
) -> int:
    from forge.config.verb_config import load_verb_config
    from forge.train.inspect import inspect_example

    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides)
    view = inspect_example(project, chosen.cfg, split, example)
    if json_out:
        from forge.commands.console import envelope

        sys.stdout.write(json.dumps(envelope("inspect", view.to_dict(), True)) + "\n")
        return EXIT_OK
    _print(view)
    return EXIT_OK


def _print(view) -> None:
    from rich.markup import escape

    from forge.commands.console import console

    console.print(
        f"[bold]forge inspect[/] {escape(view.where)}  ({view.split} example {view.example} of {view.examples}; "
        f"model {escape(view.model)}, template {escape(view.template)})"
    )
    if view.dropped:
        console.print(f"[red]training drops this example:[/] {escape(view.dropped)}")
        return
    console.print(
        "[dim]legend:[/] [reverse green]trained[/] untrained [magenta]<image: N tokens>[/] [cyan]special token[/]\n"
    )
    pattern = re.compile("(" + "|".join(re.escape(t) for t in sorted(view.specials, key=len, reverse=True)) + ")")
    out = []
    for seg in view.segments:
        if seg.kind == "image":
            out.append(f"[magenta]{escape(seg.text)}[/]")
            continue
        pieces = pattern.split(seg.text) if view.specials else [seg.text]
        text = "".join(f"[cyan]{escape(p)}[/]" if p in view.specials else escape(p) for p in pieces)
        out.append(f"[reverse green]{text}[/]" if seg.kind == "trained" else text)
    console.print("".join(out), soft_wrap=True, highlight=False)
    if view.cut_at is not None:
        console.print(
            f"\n[yellow]✂ truncated at token {view.cut_at} (model.max_seq_length {view.max_seq_length}): "
            f"{view.full_tokens - view.cut_at} token(s) after it are not trained[/]"
        )
    images = f", {len(view.images)} image(s) x {view.tokens_per_image} soft tokens" if view.images else ""
    console.print(
        f"\n{len(view.input_ids)} tokens: [green]{view.trained} trained[/], {view.untrained} untrained, "
        f"[magenta]{view.image_tokens} image tokens[/] (never trained){images}"
    )
    for ref in view.images:
        console.print(f"  image: {escape(ref)}")
