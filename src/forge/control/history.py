"""`forge runs`: every run of the project, oldest first, folded from metrics/runs.jsonl
(forge.records.runs) (torch-free).

A run's lines share its run_id: a `--resume` continues a run, so its second start is a second
attempt of the same entry, which then ends as its last attempt did. A start line without an end
is the run in progress while its pid holds the project lock, else a crash (`kill -9`, the machine
went down). A train run's `gate_passed` is the verdict of the last `forge evaluate` that scored its
adapter. A project trained before the log existed lists its last run from the status file.
"""

from __future__ import annotations

from forge.project import Project
from forge.records.runs import RunEntry, RunEvent, read_events

_END_FIELDS = (
    "outcome",
    "exit_code",
    "error",
    "error_kind",
    "resumed_from",
    "steps",
    "total_steps",
    "final_loss",
    "eval_loss",
    "adapter",
    "checkpoint",
    "config_file",
    "config_sha256",
    "overrides",
    "adapter_run_id",
    "passed",
)


def list_runs(project: Project) -> list[RunEntry]:
    from forge.lock import holder

    events = read_events(project.runs_file)
    if not events:
        return _from_status(project)
    runs: dict[str, RunEntry] = {}
    open_by_pid: dict[int, str] = {}  # pid -> run_id of its start line not yet ended
    for ev in events:
        if ev.event == "start":
            entry = runs.get(ev.run_id)
            if entry is None:
                runs[ev.run_id] = entry = RunEntry(run_id=ev.run_id, verb=ev.verb, started_at=ev.at, outcome="running")
            else:
                entry.attempts += 1
                entry.outcome, entry.ended_at = "running", None
            entry.pid = ev.pid
            entry.resumed_from = ev.resumed_from or entry.resumed_from
            entry.config_file, entry.config_sha256, entry.overrides = ev.config_file, ev.config_sha256, ev.overrides
            if ev.pid is not None:
                open_by_pid[ev.pid] = ev.run_id
            continue
        started = open_by_pid.pop(ev.pid, None) if ev.pid is not None else None
        if started is not None and started != ev.run_id and runs[started].outcome == "running":
            # a --resume with nothing to continue became a new run: its start line was this attempt's
            runs[started].attempts -= 1
            if runs[started].attempts == 0:
                del runs[started]
        entry = runs.get(ev.run_id)
        if entry is None:
            runs[ev.run_id] = entry = RunEntry(run_id=ev.run_id, verb=ev.verb, started_at=ev.at, outcome="done")
        _end(entry, ev)
    live = holder(project)
    for entry in runs.values():
        if entry.outcome == "running" and not (live is not None and live[0] == entry.pid):
            entry.outcome, entry.error_kind = "crashed", entry.error_kind or "internal"
    _gates(runs)
    return list(runs.values())


def _end(entry: RunEntry, ev: RunEvent) -> None:
    entry.ended_at = ev.at
    entry.pid = ev.pid
    for key in _END_FIELDS:
        value = getattr(ev, key)
        if value is not None and value != [] or key in ("error", "error_kind", "checkpoint", "adapter"):
            setattr(entry, key, value)


def _gates(runs: dict[str, RunEntry]) -> None:
    for entry in runs.values():  # file order: the last evaluate of a run's adapter wins
        if entry.verb == "evaluate" and entry.adapter_run_id in runs and entry.passed is not None:
            runs[entry.adapter_run_id].gate_passed = entry.passed


def last_end(project: Project, verb: str) -> RunEntry | None:
    """The newest run of `verb` that ended (its checkpoint, outcome and exit code)."""
    ended = [r for r in list_runs(project) if r.verb == verb and r.ended_at is not None]
    return ended[-1] if ended else None


def _from_status(project: Project) -> list[RunEntry]:
    """A project trained by a forge before metrics/runs.jsonl: the runs its status still knows (the
    last one, and the one before it under `extra.previous_run`)."""
    from forge.status import read_status

    st = read_status(project.status_file)
    if not st.run_id:
        return []
    out = []
    before = st.extra.get("previous_run")
    if isinstance(before, dict) and before.get("run_id") and before.get("run_id") != st.run_id:
        out.append(
            RunEntry(
                run_id=str(before["run_id"]),
                verb="train",
                started_at=before.get("started_at"),
                ended_at=before.get("completed_at"),
                outcome=str(before.get("phase") or "done"),
                steps=before.get("step"),
                total_steps=before.get("total_steps"),
                error=before.get("error"),
            )
        )
    out.append(
        RunEntry(
            run_id=st.run_id,
            verb="train",
            started_at=st.started_at,
            ended_at=st.completed_at,
            outcome=st.phase if st.phase in ("done", "failed", "interrupted") else "running",
            error=st.error,
            error_kind=st.error_kind,
            pid=st.pid,
            resumed_from=st.resumed_from,
            steps=st.step,
            total_steps=st.total_steps,
            final_loss=st.loss,
            eval_loss=st.eval_loss,
        )
    )
    return out
