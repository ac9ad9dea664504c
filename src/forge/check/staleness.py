"""Whose run metrics/training-stats.json is: the one rule `forge verify` and the web UI share (torch-free).

    run_status(project)                    -> the status file as a reader sees it (the Status keys, plus
                                              exists, effective_phase, crashed, problems)
    stats_staleness(stats, status)         -> Staleness(stale, reason, fix)
    training_stats_staleness(stats, status) -> (stale, why): the reason with its fix, in one line

A new run in progress, a run refused or failed before it wrote its own stats, a resumed run still
training: each leaves the last stats on disk, and whoever reads them (the page's metrics, the
outputs checklist's quality checks) must say they are another run's. It is decided from what the
files record, never from file times: the stats' `run_id` against the status's (a resume keeps its
run's id, so the same id in a phase before saving is a resumed run still training past its earlier
stats); for files without a run id (the original script, an older forge) the stats' `completed_at`
against the run's `started_at`. `stale` is None when nothing recorded can tell (no stats, no
status, an unreadable status, neither a run id nor the times to compare).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from forge.clock import parse_time
from forge.files import resolve_inside
from forge.hints import name_folder
from forge.lock import holder as lock_holder
from forge.project import Project
from forge.records.train import TrainingStats
from forge.status import FINAL_PHASES, HINT_FIELDS, RESUME_FIX, Status, read_status_checked

# the phases of a run before its save step: a run in one of them has not written its stats yet
BEFORE_SAVE = ("validating", "loading", "preparing", "training", "evaluating")


def run_status(project: Project, now: datetime | None = None) -> dict[str, Any]:
    """The status file as a dict (Status.to_dict()), plus what a reader judges from it: `exists`,
    `effective_phase` ('unreadable' for a file that is not a JSON object, 'crashed' for a stale
    running file whose writer no longer holds the project lock, else the file's phase), `crashed`
    and `problems` (each a dict with message and fix). A status file that links out of the project
    is not this project's: it reads as no status. Never raises on what the file holds. Its error,
    solution and message name the project folder in their command hints, absolute (forge.hints: an
    older forge's file named none), and a crashed or interrupted run without a solution gets
    RESUME_FIX."""
    path = project.status_file
    inside = resolve_inside(project.root, path.relative_to(project.root)) is not None
    st, problems = read_status_checked(path) if inside else (Status(), [])
    unreadable = any(p.unreadable for p in problems)
    # a lock "file" that is not a file (a FIFO would block the open) has no holder
    crashed = st.is_crashed(
        now or datetime.now(timezone.utc),
        lock_holder=lambda: lock_holder(project) if project.lock_file.is_file() else None,
    )
    out = st.to_dict()
    out.update(
        exists=inside and path.is_file(),
        effective_phase="unreadable" if unreadable else "crashed" if crashed else st.phase,
        crashed=crashed,
        problems=[p.to_dict() for p in problems],
    )
    if out["effective_phase"] in ("crashed", "interrupted") and not out["solution"]:
        out["solution"] = RESUME_FIX  # the writer is gone (or was stopped): what to run is known
    for key in HINT_FIELDS:  # a file an older forge wrote names no folder: named as the writer names it now
        out[key] = name_folder(out[key], project.root, absolute=True)
    return out


@dataclass(frozen=True)
class Staleness:
    stale: bool | None  # None: nothing recorded can tell
    reason: str | None = None  # whose stats these are and what the status's run did instead
    fix: str | None = None  # None while that run is still on its way to writing its own

    @property
    def why(self) -> str | None:
        if not self.reason:
            return None
        return f"{self.reason}; fix: {self.fix}" if self.fix else self.reason


UNKNOWN = Staleness(None)
CURRENT = Staleness(False)


def _run_name(status: Mapping[str, Any]) -> str:
    return f"run {status['run_id']}" if status.get("run_id") else "the last run"


def _run_now(status: Mapping[str, Any], phase: str) -> str:
    """What the status's run is doing or ended as, for people: 'is training now: ...'."""
    kind = f" ({status['error_kind']})" if status.get("error_kind") else ""
    if phase == "failed":
        early = not status.get("step")  # refused (data, config, old checkpoints) or failed loading
        return f"{'failed before training' if early else 'failed'}{kind} and wrote no stats"
    if phase == "crashed":
        return "crashed (its writer is gone) and wrote no stats"
    if phase == "interrupted":
        return "was interrupted and wrote no stats"
    if phase in ("done", "idle"):  # ended without rewriting the stats (a write that failed, another tool)
        return f"ended {phase} without rewriting metrics/training-stats.json"
    return f"is {phase} now: its stats replace these when it finishes"


def _fix(phase: str) -> str | None:
    if phase not in (*FINAL_PHASES, "crashed"):
        return None  # a run in progress: nothing to fix, its stats are on their way
    resume = " (`forge train --resume` continues an interrupted one)" if phase == "interrupted" else ""
    return f"see why in the run's status (`forge status`), then run `forge train` again{resume}"


def stats_staleness(stats: TrainingStats | None, status: Mapping[str, Any]) -> Staleness:
    """Whether `stats` (training-stats.json) is of another run than the one `status` describes
    (run_status above, or the web's status_view built on it), with the reason and the fix."""
    if stats is None or not status.get("exists") or status.get("effective_phase") in (None, "unreadable"):
        return UNKNOWN
    phase, current, started = status["effective_phase"], status.get("run_id"), status.get("started_at")
    completed = f", completed {stats.completed_at}" if stats.completed_at else ""
    ended = phase in (*FINAL_PHASES, "crashed", "idle")
    if stats.run_id and current:
        if stats.run_id != current:
            before = (status.get("extra") or {}).get("previous_run")
            also = ", the run before it" if isinstance(before, dict) and before.get("run_id") == stats.run_id else ""
            when = f", started {started}," if started else ""
            return Staleness(
                True,
                f"these are the stats of run {stats.run_id}{also}{completed}; the {'last' if ended else 'current'} "
                f"run, {current}{when} {_run_now(status, phase)}",
                _fix(phase),
            )
        if status.get("phase") in BEFORE_SAVE:
            resumed = f" from {status['resumed_from']}" if status.get("resumed_from") else ""
            at = f" at {stats.completed_at}" if stats.completed_at else ""
            return Staleness(
                True,
                f"these are the stats run {current} wrote{at}; it was resumed{resumed} since and {_run_now(status, phase)}",
                _fix(phase),
            )
        return CURRENT
    done, began = parse_time(stats.completed_at), parse_time(started)
    if done is None or began is None:
        return UNKNOWN
    if done < began:
        return Staleness(
            True,
            f"these stats were completed {stats.completed_at}, before {_run_name(status)} started ({started}): "
            f"they are an earlier run's; {_run_name(status)} {_run_now(status, phase)}",
            _fix(phase),
        )
    return CURRENT


def training_stats_staleness(stats: TrainingStats | None, status: Mapping[str, Any]) -> tuple[bool | None, str | None]:
    """(stale, why): stats_staleness as one line, the fix after the reason ('...; fix: ...')."""
    s = stats_staleness(stats, status)
    return s.stale, s.why


def adapter_provenance(project: Project) -> tuple[str | None, str | None]:
    """(the run id that saved the outputs on disk, a note when a later run did not replace them):
    what `forge evaluate` records beside its scores, by the rule above (the stats are written by
    the run that saved the adapter, in the same step)."""
    from forge.records.base import try_read_record

    stats, _ = try_read_record(project.training_stats_file, TrainingStats)
    if stats is None:
        return None, None
    s = stats_staleness(stats, run_status(project))
    if not s.stale:
        return stats.run_id, None
    who = f"run {stats.run_id}'s" if stats.run_id else "the last finished run's"
    reason = s.reason.removeprefix("these are the stats of ").removeprefix("these are the stats ")
    note = f"the adapter scored is {who}, not the latest run's ({reason})"
    return stats.run_id, f"{note}; fix: {s.fix}" if s.fix else note
