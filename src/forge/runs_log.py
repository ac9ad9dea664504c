"""Writing metrics/runs.jsonl (forge.records.runs): the run id, and the start and end lines of a
writing verb (torch-free).

    @writes_project("evaluate")
    @records_run("evaluate", summary=lambda record: {"passed": record.passed, ...})
    def compute_evaluation(project, ...): ...

The decorator sits inside the project lock, so the lock holder is the only writer of its lines.
`forge train` writes its own (forge.train.runs_entry: it knows its run_id, steps and losses).
A failure to append (a read-only project) never fails the verb: the list is a convenience, the
verb's own record is the answer.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from forge.clock import utcnow
from forge.errors import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, ForgeError
from forge.records.runs import RunEvent, append_event

F = TypeVar("F", bound=Callable[..., Any])


def new_run_id() -> str:
    """A run's id: when it started, and six hex digits that keep two runs of one second apart."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def append(runs_file: Path, **fields: Any) -> None:
    """One line of metrics/runs.jsonl; an OSError (a read-only project) is swallowed (see above)."""
    try:
        append_event(runs_file, RunEvent(**{"at": utcnow(), "pid": os.getpid(), **fields}))
    except OSError:
        pass


def records_run(verb: str, summary: Callable[[Any], dict] | None = None) -> Callable[[F], F]:
    """Decorate a wing's entry whose first argument is the Project: a start line, then an end line
    saying how it ended (done with `summary(result)`'s fields, failed with the error and its kind,
    interrupted by SIGINT/SIGTERM)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def recorded(project, *args, **kwargs):
            runs_file = getattr(project, "runs_file", None)
            if runs_file is None or not Path(project.root).is_dir():
                return fn(project, *args, **kwargs)
            run_id = new_run_id()
            append(runs_file, event="start", run_id=run_id, verb=verb)
            end = {"event": "end", "run_id": run_id, "verb": verb}
            try:
                result = fn(project, *args, **kwargs)
            except KeyboardInterrupt as e:  # forge.interrupts.Terminated is one too
                sigterm = type(e).__name__ == "Terminated"
                code = EXIT_SIGTERM if sigterm else EXIT_SIGINT
                append(runs_file, **end, outcome="interrupted", exit_code=code, error_kind="interrupted")
                raise
            except ForgeError as e:
                append(runs_file, **end, outcome="failed", exit_code=e.exit_code, error=e.message, error_kind=e.kind)
                raise
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                append(runs_file, **end, outcome="failed", exit_code=EXIT_FAIL, error=error, error_kind="internal")
                raise
            fields = {"outcome": "done", "exit_code": EXIT_OK, **(summary(result) if summary else {})}
            append(runs_file, **end, **fields)
            return result

        return recorded  # type: ignore[return-value]

    return wrap
