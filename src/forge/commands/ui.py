"""`forge ui [DIR ...] [--host 127.0.0.1] [--port 7860]`: serve the Forge Web UI (read-only)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from forge.errors import EXIT_OK, UsageError

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(directories: list[Path], host: str = "127.0.0.1", port: int = 7860) -> int:
    from rich.markup import escape

    from forge.commands.console import console, err_console

    dirs = [Path(d) for d in directories] or [Path(".")]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise UsageError(
            f"not a folder: {', '.join(missing)}", "pass project folders made by `forge init` (or the current one)"
        )
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is out of range", "use a port between 1 and 65535, e.g. 7860")

    import uvicorn

    from forge.web.app import create_app

    app = create_app(dirs)
    if not is_loopback(host):
        err_console.print(
            f"[bold yellow]warning:[/] binding to {escape(host)}: anyone who can reach this machine on port {port} "
            "can read these projects' status, metrics, logs and files (there is no login). "
            "Use --host 127.0.0.1 (the default) and an SSH tunnel to keep it private.",
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    console.print(f"[bold]Forge Web UI[/] at {url}  (API docs: {url}docs; Ctrl-C stops)")
    for e in app.state.registry.entries:
        console.print(f"  {e.id}: {escape(str(e.project.root))}", highlight=False)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    _make_server(config).run()
    return EXIT_OK


def _make_server(config):
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, telling the app's event streams to end as soon as Ctrl-C arrives."""

        def handle_exit(self, sig, frame) -> None:
            self.config.app.state.stopping.set()
            super().handle_exit(sig, frame)

    return Server(config)
