"""What `--help` shows for each parameter: forge's words, not Python's (torch-free, core).

Typer prints a parameter's Python type as its value (`<bool>` beside a flag, `<list[str]>` for
--set, `<float range> [x>=0.5]` for --vram-gb, `{directory}` in the usage line, QA issue 28). A user does not
type Python: a flag takes no value, --set takes KEY=VALUE, a folder is DIR. `plain_params` gives
every parameter of a command a metavar in those words (its own, where the verb set one) and leaves
its limits to the help text; the values are still checked by the parameter's type.
"""

from __future__ import annotations

from typing import Any

import typer

# parameter name -> what the user types (the rest: by type, below)
BY_NAME = {
    "directory": "DIR",
    "directories": "DIR",
    "set_": "KEY=VALUE",
    "config": "FILE",
    "host": "HOST",
    "port": "PORT",
    "gpus": "N|auto",
    "nproc": "N",
    "nnodes": "N",
    "node_rank": "N",
    "rdzv_endpoint": "HOST:PORT",
    "vram_gb": "GB",
    "threshold": "FRACTION",
    "gguf": "TYPES",
    "backend": "NAME",
    "strategy": "NAME",
    "example": "NAME",
    "model": "MODEL",
}
BY_TYPE = {"INTEGER": "N", "FLOAT": "NUMBER", "PATH": "PATH", "TEXT": "TEXT"}


def word_for(param: Any) -> str:
    """The metavar of one click parameter: "" for a flag (it takes no value)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.name in BY_NAME:
        return BY_NAME[param.name]
    kind = str(getattr(getattr(param, "type", None), "name", "text")).upper()
    return BY_TYPE.get(kind.split()[0], "VALUE")


def plain(param: Any) -> Any:
    """One parameter shown in forge's words: its metavar in the name or value column, no type."""
    if getattr(param, "_forge_plain", False):
        return param
    if param.metavar is None:
        param.metavar = word_for(param)
    shown = param.metavar or None
    # an argument's type column, and --help's own flag, print the type whatever the metavar says
    param.display_type_rich = lambda ctx, _shown=shown, _arg=param.param_type_name == "argument": (
        None if _arg else _shown
    )
    if param.param_type_name == "argument" and param.required:  # "{DIR}" in the usage line: DIR
        param._usage_display_name = lambda _p=param: _p.display_name_raw + ("..." if _p.nargs != 1 else "")
    if hasattr(param, "min"):  # the range is said in the help text; the type still checks it
        param.min = param.max = None
    param._forge_plain = True
    return param


def plain_params(command: Any) -> Any:
    """`command` with every parameter (--help's too) shown in forge's words (once per command)."""
    if getattr(command, "_forge_plain", False):
        return command
    for param in getattr(command, "params", []):
        plain(param)
    get_params = command.get_params
    command.get_params = lambda ctx: [plain(p) for p in get_params(ctx)]
    command._forge_plain = True
    return command


class PlainHelp(typer.core.TyperGroup):
    """The command line's group: every verb it resolves (and its own --help) in forge's words, set
    here once, so a verb added later needs nothing of its own."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        plain_params(self)  # `forge --help`'s own flag

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        return plain_params(command) if command is not None else None
