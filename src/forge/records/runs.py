"""metrics/runs.jsonl: one line when a writing verb starts and one when it ends (torch-free).

Why a log of its own: every other record of a run is replaced by the next run (the status, the
stats, outputs/forge-run.json, evaluation.json), so only an append-only file can say which runs
there were. Each line holds only what no other file keeps for every run: the run's identity, how
it ended, its loss summary and config source at the end, and for evaluate the adapter's run and
the gate's verdict. `forge runs` folds the lines into one RunEntry per run (forge.control.history).

A line is appended in one write() of a few hundred bytes with O_APPEND: readers may tail the file
while a run writes it, and a line torn by a kill is skipped, like the history's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from forge.records.base import Record, RecordError

RUNS_NAME = "runs.jsonl"


class RunEvent(Record):
    """One line of metrics/runs.jsonl: `event` start or end of one verb's run."""

    REMAKE: ClassVar[str] = "the line is skipped; the next run appends its own"

    event: Literal["start", "end"]
    run_id: str
    verb: str  # train, baseline, evaluate, export
    at: str  # forge.clock time of the event
    pid: int | None = None
    # end only: how it ended (done, failed, interrupted) and why
    outcome: str | None = None
    exit_code: int | None = None
    error: str | None = None
    error_kind: str | None = None
    # train: where the run was resumed from, its steps, losses and where it saved the adapter
    resumed_from: str | None = None
    steps: int | None = None
    total_steps: int | None = None
    final_loss: float | None = None
    eval_loss: float | None = None
    adapter: str | None = None  # relative to the project when inside it
    checkpoint: str | None = None  # an interrupted or failed run's newest complete checkpoint
    # the config the run read (training-stats.json's config_source: file, overrides, sha256)
    config_file: str | None = None
    config_sha256: str | None = None
    overrides: list[str] = []
    # evaluate: the run whose adapter it scored, and the gate's verdict
    adapter_run_id: str | None = None
    passed: bool | None = None


def append_event(path: Path, event: RunEvent) -> None:
    """Append one line in one write (O_APPEND): concurrent readers never see half a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(event.to_data(), default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_events(path: Path) -> list[RunEvent]:
    """Every readable line, in file order; [] when the file is missing (a torn line is skipped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            out.append(RunEvent.from_data(json.loads(line)))
        except (ValueError, RecordError):
            continue
    return out


class RunEntry(Record):
    """One run as `forge runs --json` lists it: its start and end lines folded together."""

    run_id: str
    verb: str
    started_at: str | None = None
    ended_at: str | None = None
    outcome: str  # done, failed, interrupted, running, crashed (no end line and no live process)
    exit_code: int | None = None
    error: str | None = None
    error_kind: str | None = None
    pid: int | None = None
    resumed_from: str | None = None
    steps: int | None = None
    total_steps: int | None = None
    final_loss: float | None = None
    eval_loss: float | None = None
    adapter: str | None = None
    checkpoint: str | None = None
    config_file: str | None = None
    config_sha256: str | None = None
    overrides: list[str] = []
    adapter_run_id: str | None = None
    passed: bool | None = None
    # train: the verdict of the last evaluate that scored this run's adapter (None: not evaluated)
    gate_passed: bool | None = None
    attempts: int = 1  # a --resume continues the run (same run_id): each start is an attempt

    def to_dict(self) -> dict[str, Any]:
        return self.to_data()
