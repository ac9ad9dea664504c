"""`forge status --wait` and the MCP `wait` tool: poll the status until the run ends (torch-free).

    waiter = RunWait(project, timeout=600)
    while not (state := waiter.poll()).over:
        sleep(0.5)              # time.sleep in the CLI, anyio.sleep in the MCP server
    state.code                  # the run's outcome (forge.control.outcome), or 124 on the timeout

The caller sleeps, so the CLI blocks a thread and the MCP server an async task, over one rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from forge.control.outcome import EXIT_TIMEOUT, in_progress, outcome_code
from forge.project import Project


@dataclass
class WaitState:
    view: dict[str, Any]  # the status view (forge status --json's document)
    over: bool  # the run ended, or the timeout passed
    code: int | None = None  # set once over: the outcome's exit code, or 124
    timed_out: bool = False


class RunWait:
    def __init__(self, project: Project, timeout: float | None = None):
        self.project = project
        self.deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)

    def poll(self) -> WaitState:
        from forge.web.readers import status_view

        view = status_view(self.project)
        if not in_progress(self.project, view):
            return WaitState(view, True, outcome_code(view))
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return WaitState(view, True, EXIT_TIMEOUT, timed_out=True)
        return WaitState(view, False)

    def left(self) -> float | None:
        """Seconds to the deadline (None without one)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


def wait_for_run(project: Project, timeout: float | None = None, interval: float = 0.5, on_view=None) -> WaitState:
    """Block until the run ends or `timeout` passes; `on_view(view)` hears every poll."""
    waiter = RunWait(project, timeout)
    while True:
        state = waiter.poll()
        if on_view is not None:
            on_view(state.view)
        if state.over:
            return state
        left = waiter.left()
        time.sleep(interval if left is None else min(interval, max(left, 0.01)))
