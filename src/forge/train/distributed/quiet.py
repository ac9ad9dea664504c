"""What a rank other than 0 writes instead of the status file and the log: nothing on disk."""

from __future__ import annotations

import sys
from pathlib import Path


class SilentStatusWriter:
    """A rank other than 0 keeps its status in memory only: rank 0 is the one writer of the file."""

    def __init__(self, path: Path, **initial):
        from forge.status import Status

        self.path = path
        self.status = Status(**initial)

    def update(self, **changes):
        for key, value in changes.items():
            if hasattr(self.status, key) and key != "extra":
                setattr(self.status, key, value)
            else:
                self.status.extra[key] = value
        return self.status

    def phase(self, phase: str, **changes):
        from forge.status import FINAL_PHASES

        return self.update(phase=phase, running=phase not in FINAL_PHASES, **changes)


def rank_logger(rank: int):
    """The log of a rank other than 0: warnings and errors on stderr, tagged with the rank; no file."""
    import logging

    log = logging.getLogger("forge.train")
    log.setLevel(logging.WARNING)
    log.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[rank {rank}] %(levelname)s %(message)s"))
    handler._forge = True  # type: ignore[attr-defined]  # removed by the recipe's log closer
    log.addHandler(handler)
    return log
