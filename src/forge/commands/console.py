"""Rich console helpers shared by the verbs (torch-free)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_error(e) -> None:
    msg = getattr(e, "message", str(e))
    err_console.print(f"[bold red]error:[/] {msg}", highlight=False, markup=True)
    fix = getattr(e, "fix", None)
    if fix:
        err_console.print(f"[bold]fix:[/] {fix}", highlight=False)
