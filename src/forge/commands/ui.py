"""`forge ui [DIR ...] [--host 127.0.0.1] [--port 7860]`: serve the Forge Web UI (read-only).

Ctrl-C is how a user stops it: it exits 130 (SIGTERM: 143) without a word, not with the "error:
interrupted ... fix: run it again" of a verb stopped before it finished (QA, issue 28)."""

from __future__ import annotations

import errno
import signal
import socket
from pathlib import Path

from forge.errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, ForgeError, UsageError
from forge.web.hosts import LOCAL_NAMES, WILDCARDS, is_loopback  # noqa: F401 (is_loopback: part of this API)


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

    # bind before anything is printed: a busy port is a forge error with its fix (exit 1), not
    # uvicorn's logged [Errno 98] and its startup-failure exit 3, which is the evaluate gate's code
    sock = bind(host, port)
    try:
        app = create_app(dirs, host=host)
        if not is_loopback(host):
            err_console.print(
                f"[bold yellow]warning:[/] binding to {escape(host)}: anyone who can reach this machine on port {port} "
                "can read these projects' status, metrics, logs and files (there is no login). "
                "Use --host 127.0.0.1 (the default) and an SSH tunnel to keep it private.",
                highlight=False,
            )
        for line in banner(host, port):
            console.print(line, highlight=False)
        for e in app.state.registry.entries:
            console.print(f"  {e.id}: {escape(str(e.project.root))}", highlight=False)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
        server = _make_server(config)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt as stop:  # uvicorn re-raises the Ctrl-C it shut down on: asked for, quietly
            from forge.interrupts import signal_name

            return EXIT_SIGTERM if signal_name(stop) == "SIGTERM" else EXIT_SIGINT
    finally:
        sock.close()
    # a signal uvicorn shut down on but could not re-raise: where SIGINT is ignored (a command
    # started with `&` by a script), the re-raise is ignored too; the exit code still says why
    stopped = getattr(server, "stopped_by", None)
    if stopped is not None:
        return EXIT_SIGTERM if stopped == signal.SIGTERM else EXIT_SIGINT
    return EXIT_OK


def banner(host: str, port: int) -> list[str]:
    """What `forge ui` prints: the address it really binds, and who can reach it."""
    from rich.markup import escape

    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    lines = [f"[bold]Forge Web UI[/] bound to {escape(url)}  (API docs: {escape(url)}docs; Ctrl-C stops)"]
    if host in WILDCARDS:
        lines.append(
            f"  reachable from the network on every address of this machine; here: http://127.0.0.1:{port}/"
            if host != "::"
            else f"  reachable from the network on every address of this machine; here: http://[::1]:{port}/"
        )
    elif not is_loopback(host):
        lines.append(f"  reachable from the network at {escape(url)}")
    return lines


def bind(host: str, port: int) -> socket.socket:
    """The listening socket for uvicorn (the options uvicorn's own bind sets), or a ForgeError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ForgeError(
                f"port {port} on {host} is already in use (another `forge ui` or another server)",
                f"stop that server, or pick a free port: forge ui --port {port + 1}",
            ) from None
        if e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(e, socket.gaierror):
            raise UsageError(
                f"--host {host} is not an address of this machine ({e.strerror or e})",
                "use 127.0.0.1 (the default), 0.0.0.0 for every interface, or one of this machine's addresses",
            ) from None
        raise ForgeError(f"cannot listen on {host}:{port}: {e.strerror or e}", "try another --port") from None
    sock.set_inheritable(True)
    return sock


def _make_server(config):
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, telling the app's event streams to end as soon as Ctrl-C arrives."""

        stopped_by = None

        def handle_exit(self, sig, frame) -> None:
            self.stopped_by = self.stopped_by or sig
            self.config.app.state.stopping.set()
            super().handle_exit(sig, frame)

    return Server(config)
