"""The status contract: `.factory/training-status.json`.

One writer (the training process, rank 0), many readers (forge status, the web UI, agents).
The writer replaces the file atomically (temporary file in the same folder, flush, fsync,
os.replace) so a reader sees either the old or the new document, never half of one. The reader
is tolerant: a missing or foreign file gives an idle Status rather than an exception.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forge.clock import parse_time, utcnow
from forge.files import atomic_write_json
from forge.processes import pid_alive

SCHEMA_VERSION = 1

PHASES = (
    "idle",
    "validating",
    "loading",
    "preparing",
    "training",
    "evaluating",
    "saving",
    "exporting",
    "done",
    "failed",
    "interrupted",
)
FINAL_PHASES = ("done", "failed", "interrupted")

# A running status whose writer is gone and which has not been touched for this long is a crash.
STALE_AFTER_SECONDS = 120


@dataclass
class Status:
    # the original keys, with their original types
    running: bool = False
    step: int = 0
    total_steps: int = 0
    epoch: float = 0
    total_epochs: float = 0
    loss: float | None = None
    learning_rate: float | None = None
    eta_seconds: float | None = None
    started_at: str | None = None
    checkpoint_at: str | None = None
    error: str | None = None
    last_updated: str | None = None
    # forge's additions
    schema_version: int = SCHEMA_VERSION
    run_id: str | None = None
    pid: int | None = None
    phase: str = "idle"
    eval_loss: float | None = None
    tokens_per_second: float | None = None
    peak_vram_gb: float | None = None
    backend: str | None = None
    model: str | None = None
    completed_at: str | None = None
    resumed_from: str | None = None  # the checkpoint a --resume continued (run_id, started_at are kept)
    error_kind: str | None = None
    solution: str | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Status:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        st = cls(**kwargs)
        st.extra = dict(data.get("extra") or {})
        return st

    def pid_alive(self) -> bool:
        return pid_alive(self.pid)

    def is_crashed(self, now: datetime | None = None) -> bool:
        """A 'running' status whose process is gone and whose file went stale."""
        if not self.running or self.pid_alive():
            return False
        last = parse_time(self.last_updated)
        now = now or datetime.now(timezone.utc)
        return last is None or (now - last).total_seconds() > STALE_AFTER_SECONDS

    def effective_phase(self) -> str:
        return "crashed" if self.is_crashed() else self.phase


def write_status(path: Path, status: Status) -> None:
    status.last_updated = utcnow()
    atomic_write_json(path, status.to_dict())


def read_status(path: Path) -> Status:
    """The current status; an idle Status when the file is missing, empty or not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Status()
    if not isinstance(data, dict):
        return Status()
    try:
        return Status.from_dict(data)
    except TypeError:
        return Status()


class StatusWriter:
    """The single writer of a run's status. Every update is written at once, atomically."""

    def __init__(self, path: Path, **initial: Any):
        self.path = path
        self.status = Status(**initial)

    def update(self, **changes: Any) -> Status:
        for key, value in changes.items():
            if hasattr(self.status, key) and key != "extra":
                setattr(self.status, key, value)
            else:
                self.status.extra[key] = value
        write_status(self.path, self.status)
        return self.status

    def phase(self, phase: str, **changes: Any) -> Status:
        assert phase in PHASES, phase
        running = phase not in FINAL_PHASES
        if not running and "completed_at" not in changes:
            changes["completed_at"] = utcnow()
        return self.update(phase=phase, running=running, **changes)
