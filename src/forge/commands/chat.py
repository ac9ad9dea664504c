"""`forge chat`: talk to the adapter, the merged model or a GGUF (forge.evaluate.chat).

`--prompt TEXT`, or text piped on stdin, is answered once (with --json: one object); a terminal on
stdin gets an interactive multi-turn chat (`/exit` or Ctrl-D ends it). Exit 0; 1 for a missing or
foreign artifact (an earlier step's output: run it), 2 for bad usage or config.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from forge.errors import EXIT_OK, EXIT_USAGE, ForgeError
from forge.project import Project


def chat_verb(run_verb, dir_arg, json_opt, config_opt, set_opt):
    """The typer command of `forge chat` (forge.cli registers it): run_verb is forge.cli's _run."""

    def chat(
        directory: Optional[Path] = dir_arg,  # noqa: UP045 (typer reads the annotation)
        artifact: Optional[str] = typer.Option(None, "--artifact", help="adapter (default), merged or gguf:TYPE."),  # noqa: UP045
        prompt: Optional[str] = typer.Option(None, "--prompt", help="Answer this once and exit (else stdin)."),  # noqa: UP045
        system: Optional[str] = typer.Option(None, "--system", help="A system message before the conversation."),  # noqa: UP045
        json_out: bool = json_opt,
        config: Optional[Path] = config_opt,  # noqa: UP045
        set_: Optional[List[str]] = set_opt,  # noqa: UP006, UP045
    ) -> None:
        """Talk to the adapter, the merged model or a GGUF (--set evaluation.max_new_tokens=N: answer length)."""
        run_verb(run, directory, artifact, prompt, system, json_out=json_out, config=config, overrides=set_)

    return chat


def run(
    directory: Path | None,
    artifact: str | None = None,
    prompt: str | None = None,
    system: str | None = None,
    json_out: bool = False,
    config: Path | None = None,
    overrides: list[str] | None = None,
) -> int:
    from forge.commands.console import print_notes
    from forge.config.verb_config import load_verb_config
    from forge.evaluate.chat import open_chat

    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides)  # no flags: the last run's, when elsewhere
    print_notes(chosen.notes)
    interactive = prompt is None and sys.stdin.isatty()
    if prompt is None and not interactive:
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise ForgeError(
                "forge chat: no prompt (stdin was empty)",
                fix='pass --prompt "TEXT", pipe the text on stdin, or run it in a terminal to chat',
                exit_code=EXIT_USAGE,
                kind="usage",
            )
    session = open_chat(project, chosen.cfg, artifact, system=system)  # answers: evaluation.max_new_tokens
    if not interactive:
        answer = session.ask(prompt)
        if json_out:
            sys.stdout.write(json.dumps({**session.describe(), "prompt": prompt, "answer": answer}, indent=2) + "\n")
        else:
            sys.stdout.write(answer + "\n")
        return EXIT_OK
    from rich.markup import escape

    from forge.commands.console import console

    info = session.describe()
    console.print(
        f"[bold]forge chat[/] {escape(info['artifact'])} ({escape(info['path'])}); template {escape(info['template'])}; "
        f"stops at {escape(info['stops'])}. /exit or Ctrl-D ends."
    )
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            break
        if text in ("/exit", "/quit"):
            break
        if text:
            console.print(f"[bold]model>[/] {escape(session.ask(text))}")
    return EXIT_OK
