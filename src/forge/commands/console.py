"""Rich console helpers shared by the verbs (torch-free)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_error(e) -> None:
    from rich.markup import escape

    # escaped: messages quote library errors such as gloo's "[/__w/pytorch/.../pair.cc:553]", which
    # rich would read as a closing tag and fail on (a traceback in place of the error)
    msg = getattr(e, "message", str(e))
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, markup=True)
    fix = getattr(e, "fix", None)
    if fix:
        err_console.print(f"[bold]fix:[/] {escape(fix)}", highlight=False)
