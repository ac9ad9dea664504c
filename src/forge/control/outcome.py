"""How a run ended, as an exit code, and whether one is in progress (torch-free).

One rule for `forge status --wait`, `forge stop` and the MCP `wait` tool: a run is in progress while
its status is not final, or while a `forge train` holds the project lock (a new run holds it
before it writes its first status). Its outcome is the status's phase: done 0; failed, crashed or
an unreadable status 1; interrupted 130 for SIGINT, 143 for SIGTERM (the status's `extra.signal`;
143 where an older forge did not record it); no run yet 1 (nothing was trained).
"""

from __future__ import annotations

from typing import Any

from forge.errors import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM
from forge.project import Project
from forge.status import FINAL_PHASES, PHASES

ACTIVE_PHASES = tuple(p for p in PHASES if p != "idle" and p not in FINAL_PHASES)
EXIT_TIMEOUT = 124  # `timeout(1)`'s code: the run did not end within --timeout


def in_progress(project: Project, view: dict[str, Any]) -> bool:
    """Whether a run is going on: a status that is not final, or a train holding the lock."""
    from forge.lock import holder

    if view.get("effective_phase") in ACTIVE_PHASES:  # not idle (no run yet), not final
        return True
    held = holder(project)
    return held is not None and held[1] == "train"


def outcome_code(view: dict[str, Any]) -> int:
    """The exit code of the run a (final) status view describes."""
    phase = view.get("effective_phase")
    if phase == "done" and not view.get("problems"):
        return EXIT_OK
    if phase == "interrupted":
        signal = (view.get("extra") or {}).get("signal")
        return EXIT_SIGINT if signal == "SIGINT" else EXIT_SIGTERM
    return EXIT_FAIL
