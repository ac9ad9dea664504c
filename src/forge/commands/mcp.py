"""`forge mcp [--root DIR]`: serve the verbs as MCP tools over stdio (forge.agent)."""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_OK, EXIT_USAGE, ForgeError


def run(root: Path | None, cli=None) -> int:
    """`cli`: forge.cli's typer app (handed in, not imported: the tools' parameters are its options)."""
    folder = Path(root or ".").expanduser().resolve()
    if not folder.is_dir():
        raise ForgeError(
            f"--root {folder}: not a folder", "name the folder whose projects the server may use", exit_code=EXIT_USAGE
        )
    try:
        from forge.agent.server import serve
    except ImportError as e:  # the SDK is a dependency; an environment without it says so
        raise ForgeError(
            f"forge mcp needs the `mcp` package ({e})", "pip install 'mcp>=2'", exit_code=EXIT_USAGE
        ) from None
    serve(folder, cli)
    return EXIT_OK
