"""`forge mcp`: the verbs as MCP tools over stdio, built on the official `mcp` SDK's MCPServer
(torch-free: listing the tools imports neither torch nor transformers).

The SDK speaks the protocol (JSON-RPC framing, initialisation, tool and resource listing, progress
notifications, cancellation); forge only registers tools (forge.agent.tools) and resources:

    forge://status{?project}            the status view (`forge status --json`'s document)
    forge://log{?project,lines}         the last lines of logs/training.log (200 by default)
    forge://metrics/{name}{?project}    a file of metrics/: training-stats.json, training-history.jsonl,
                                        baseline.json, evaluation.json, export-report.json, runs.jsonl

`project` is a folder under the root (default: the root itself), confined like every tool's path
(forge.agent.paths). While it serves, the SDK points file descriptor 1 at stderr and keeps the
protocol on a private copy, so nothing forge or a library prints can corrupt a message.
"""

from __future__ import annotations

import json
from pathlib import Path

METRICS = (
    "training-stats.json",
    "training-history.jsonl",
    "baseline.json",
    "evaluation.json",
    "export-report.json",
    "runs.jsonl",
)
INSTRUCTIONS = (
    "forge fine-tunes chat models with LoRA on a Data Factory project folder. A workflow: init (or a folder "
    "the format step filled), check, plan, baseline, train (starts in the background and returns), wait "
    "(blocks until the run ends, with progress), evaluate (exit_code 3: the gate failed), export, verify, "
    "chat (the trained model answers one prompt); runs lists every run; stop ends a run with a checkpoint "
    "(train again with resume=true continues it). Each result is the verb's --json document; "
    "`_meta.exit_code` is the command line's exit code; a refusal is a tool error with error, fix and "
    "exit_code. Paths are relative to the server's root and may not leave it."
)


def build_server(root: Path, app):
    """The server for the projects under `root`; `app`: the CLI's typer app, whose options the tools take."""
    from mcp.server.mcpserver import Context, MCPServer

    from forge import __version__
    from forge.agent.tools import make_tool, tool_specs

    root = Path(root).resolve()
    server = MCPServer("forge", version=__version__, instructions=INSTRUCTIONS)
    for name, options, description in tool_specs(app):
        server.add_tool(make_tool(root, name, options, Context), name=name, description=description)
    _resources(server, root)
    return server


def _resources(server, root: Path) -> None:
    from forge.agent.paths import confine
    from forge.project import Project

    def project_of(project: str) -> Project:
        return Project.existing(confine(root, project or None, "project"))

    @server.resource("forge://status{?project}", mime_type="application/json", description="The live status view.")
    def status(project: str = "") -> str:
        from forge.commands.status import json_view
        from forge.web.readers import status_view

        return json.dumps(json_view(status_view(project_of(project))), indent=2, default=str)

    @server.resource("forge://log{?project,lines}", mime_type="text/plain", description="The log's last lines.")
    def log(project: str = "", lines: str = "200") -> str:
        from forge.web.readers import tail_lines

        count = int(lines) if str(lines).isdigit() else 200
        return "\n".join(tail_lines(project_of(project).log_file, max(1, min(count, 5000))))

    @server.resource(
        "forge://metrics/{name}{?project}",
        mime_type="application/json",
        description="A metrics record: " + ", ".join(METRICS) + ".",
    )
    def metrics(name: str, project: str = "") -> str:
        from forge.errors import ForgeError

        if name not in METRICS:
            raise ForgeError(f"no metrics record {name!r}", "one of: " + ", ".join(METRICS), exit_code=2)
        path = project_of(project).metrics_dir / name
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise ForgeError(f"{name} is not written yet", "run the verb that writes it", exit_code=1) from None


def serve(root: Path, app) -> None:
    build_server(root, app).run("stdio")
