"""Ctrl-C and SIGTERM in the verbs that do not train (export, baseline, evaluate, plan, init, demo)
(torch-free).

Training stops itself at a step boundary (forge.train.signals, which installs its own handlers over
these and puts them back). Every other verb just stops: SIGTERM raises `Terminated` (a
KeyboardInterrupt, so the same `except` and `finally` blocks run as for Ctrl-C: export removes its
temporary files and writes a report that says it was interrupted), and the CLI turns either into
one error with exit 130 / 143 and, with --json, one JSON object. Before, SIGTERM killed the process
in the middle of a write, and Ctrl-C ended with exit 130 and not a word, not even on stdout for
`--json`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from forge.errors import EXIT_SIGINT, EXIT_SIGTERM, ForgeError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, like Ctrl-C's KeyboardInterrupt."""


def signal_name(e: BaseException) -> str:
    return "SIGTERM" if isinstance(e, Terminated) else "SIGINT"


def _raise_terminated(signum, frame) -> None:
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated inside the block, where nothing else handles it (the default kills)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_error(argv: list[str], e: BaseException) -> ForgeError:
    """The error a stopped verb ends with: which signal, what is kept, and the command to run again
    (the same command line, quoted to paste, from the same folder)."""
    import shlex

    name = signal_name(e)
    verb = argv[0] if argv else "command"
    return ForgeError(
        f"forge {verb}: interrupted by {name} before it finished (what it had completed is kept)",
        f"run it again: {shlex.join(['forge', *argv])}",
        exit_code=EXIT_SIGTERM if name == "SIGTERM" else EXIT_SIGINT,
        kind="interrupted",
    )
