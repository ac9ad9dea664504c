"""`forge chat`: talk to the adapter, the merged model or a GGUF (forge.evaluate.chat).

`--prompt TEXT`, or text piped on stdin, is answered once (with --json: one object); a terminal on
stdin gets an interactive multi-turn chat (`/exit` or Ctrl-D ends it). Exit 0; 1 for a missing or
foreign artifact (an earlier step's output: run it), 2 for bad usage or config.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from forge.errors import EXIT_OK, EXIT_USAGE, ForgeError
from forge.project import Project


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
