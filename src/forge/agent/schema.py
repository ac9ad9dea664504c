"""Tool parameters from the CLI's own options (torch-free).

Each MCP tool takes the options of its `forge VERB`, read from the command line parser (forge.cli,
through typer's click command): the same names (`--vram-gb` -> `vram_gb`, the folder argument ->
`directory`), types, defaults and help. A new CLI option is a new tool parameter with no edit here;
the options that make no sense through the protocol are left out (`OMIT`).
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

from pydantic import Field

# the output is always the --json document; the tools that follow a run are `status` and `wait`;
# train through MCP is always detached
OMIT = {"json_out", "watch", "detach", "wait"}
ROOT_HELP = "Project folder, relative to the server's --root (default: the root itself); it may not leave the root."


@dataclass(frozen=True)
class Option:
    name: str  # the tool's parameter name
    flag: str | None  # the CLI option (`--set`), None for the positional folder argument
    kind: type  # bool, int, float, str, list
    default: Any
    required: bool
    help: str
    is_path: bool  # a file or folder: confined to the server's root (forge.agent.paths)

    def annotation(self) -> Any:
        base = {list: list[str]}.get(self.kind, self.kind)
        typ = base if self.required or self.kind is bool else Optional[base]
        return Annotated[typ, Field(description=self.help or None)]

    def argv(self, value: Any) -> list[str]:
        """The command-line words of `value` for this option."""
        if value is None or value is False or value == []:
            return []
        if self.flag is None:
            return [str(value)]
        if self.kind is bool:
            return [self.flag]
        if self.kind is list:
            return [w for v in value for w in (self.flag, str(v))]
        return [self.flag, str(value)]


def _kind(annotation: Any) -> tuple[type, bool]:
    """(kind, is_path) of a typer parameter's annotation (Optional and List unwrapped)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (list, typing.List):  # noqa: UP006 - typer's List[str]
        return list, False
    if origin is typing.Union and args:
        return _kind(args[0])
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return str, True
    if annotation in (bool, int, float, str):
        return annotation, False
    return str, False


def cli_commands(app) -> dict[str, Any]:
    """The click commands of the CLI's typer app, by verb (forge.cli hands its app to `forge mcp`)."""
    import typer.main

    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


def verb_options(command) -> list[Option]:
    """The options of one CLI command (a click command), in the order the CLI declares them."""
    out = []
    for p in command.params:
        if p.name in OMIT:
            continue
        descriptor = getattr(p, "type_descriptor", None)
        kind, is_path = _kind(getattr(descriptor, "annotation", str))
        if getattr(p, "is_flag", False):
            kind = bool
        positional = not p.opts[0].startswith("-")
        name = "directory" if positional else p.opts[0].lstrip("-").replace("-", "_")
        default = p.default if not callable(p.default) else None
        if kind is list and not default:
            default = None
        text = ROOT_HELP if positional else p.help or ""  # the CLI's "current folder" is the server's root here
        out.append(Option(name, None if positional else p.opts[0], kind, default, bool(p.required), text, is_path))
    return out


def signature(options: list[Option], context_type: Any) -> tuple[inspect.Signature, dict[str, Any]]:
    """The signature (and annotations) of a tool function taking these options and the MCP context."""
    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=context_type)]
    annotations: dict[str, Any] = {"ctx": context_type}
    for o in options:
        ann = o.annotation()
        default = inspect.Parameter.empty if o.required else o.default
        params.append(inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann))
        annotations[o.name] = ann
    return inspect.Signature(params), annotations
