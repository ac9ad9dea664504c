"""The status contract: `.factory/training-status.json`.

One writer (the training process, rank 0), many readers (forge status, the web UI, agents).
The writer replaces the file atomically (temporary file in the same folder, flush, fsync,
os.replace) so a reader sees either the old or the new document, never half of one.

The reader is typed and never raises on what the file holds: each known key is checked against
its type, a wrong value is read as the key's default and reported as a StatusProblem (naming the
file, the key, what it held and what was expected), and a file that is not a JSON object reads as
an idle Status with one problem whose key is None (unreadable). Since the writer replaces the file
atomically, a damaged file was written by something else; the next `forge train` rewrites it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forge.clock import parse_time, utcnow
from forge.files import atomic_write_json
from forge.hints import name_folder
from forge.processes import PID_MAX, pid_alive, process_space

SCHEMA_VERSION = 1
STATUS_NAME = "training-status.json"

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

# The classes of `error` the writer records as `error_kind` (docs/status-contract.md lists these
# words, tests/unit/test_failure_fixes.py checks that the two agree). Any other kind a failure
# carries is recorded as "internal" (StatusWriter), so readers see only the documented words: an
# unexpected exception used to be recorded as "error", which no reader knew.
ERROR_KINDS = (
    "config",  # a config value refused (training-config.json or --set)
    "usage",  # a command-line value refused
    "data",
    "template_mismatch",
    "model_not_found",
    "backend",
    "resume_mismatch",
    "no_valid_checkpoint",
    "oom",
    "nan",
    "disk_full",
    "interrupted",
    "internal",  # forge did not expect it: the traceback is in logs/training.log
    "export_failed",  # save.merged_path / save.gguf_path: the export after training
    "export_dependency",
    "export_unsupported",
    "export_verification",
)

# A running status whose writer is gone and which has not been touched for this long is a crash.
STALE_AFTER_SECONDS = 120
# Bigger than any status the writer makes (a few hundred bytes): a reader polling every 0.5 s
# must not load whatever someone put in its place.
MAX_STATUS_BYTES = 1 << 20
# `extra` nested deeper than this is not ours, and would exhaust the recursion of JSON readers.
MAX_EXTRA_DEPTH = 32

# What a run that stopped with a checkpoint is continued with (a crash, a dead rank, an interrupt).
RESUME_FIX = "`forge train --resume` continues from the newest complete checkpoint"
# The fields whose command hints name the project folder, absolute (forge.hints): the file is read
# from anywhere (the web UI, `forge status` in another folder, agents).
HINT_FIELDS = ("error", "solution", "message")

# What a reader shows next to any problem of the file (forge status, the web page).
STATUS_FIX = (
    "the next `forge train` rewrites this file; the run's outputs (outputs/, models/, metrics/) are "
    "unaffected; delete the file to clear this message"
)


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
    process_space: str | None = None  # whose pids `pid` is (forge.processes.process_space)
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
        """The status a document describes; wrongly typed values are read as their defaults."""
        return cls.checked(data)[0]

    @classmethod
    def checked(cls, data: dict[str, Any], file: str = STATUS_NAME) -> tuple[Status, list[StatusProblem]]:
        """The status, and a problem for each known key whose value is not of the contract's type."""
        st, problems = cls(), []
        for key, value in data.items():
            check = CHECKS.get(key)
            if check is None:
                continue  # an unknown key: a newer writer's addition (readers treat them as optional)
            accepts, expected = check
            if accepts(value):
                setattr(st, key, dict(value) if key == "extra" else value)
            else:
                problems.append(StatusProblem(file, key, _shown(value), expected, _shown(getattr(st, key), kind=False)))
        if "phase" not in data:
            st.phase = _original_phase(st)
        return st, problems

    def pid_alive(self) -> bool:
        return pid_alive(self.pid)

    def is_crashed(
        self, now: datetime | None = None, lock_holder: Callable[[], tuple[int, str | None] | None] | None = None
    ) -> bool:
        """A 'running' status whose writer is gone: at once where the reader shares the writer's
        process space (its pid is dead), else once the file went stale.

        Without `lock_holder`, the writer is gone when its pid is. With it (the project lock's live
        holder, forge.lock.holder), the writer is live only while it holds the lock: `forge train`
        takes the lock before its first status write and releases it after its last, so a live pid
        that holds no lock is another process that was given the dead writer's number. Asked only
        for a stale running file, so a page polling a live run pays nothing for it."""
        if not self.running:
            return False
        if self.pid is not None and self.process_space and self.process_space == process_space():
            # the reader sees the writer's pids: a dead writer is a crash now, not in 120 s
            if not self.pid_alive():
                return True
        last = parse_time(self.last_updated)
        now = now or datetime.now(timezone.utc)
        if last is not None and (now - last).total_seconds() <= STALE_AFTER_SECONDS:
            return False
        if lock_holder is None:
            return not self.pid_alive()
        held = lock_holder()
        return held is None or held[0] != self.pid

    def effective_phase(self) -> str:
        return "crashed" if self.is_crashed() else self.phase


@dataclass(frozen=True)
class StatusProblem:
    """Something wrong in a status file: a key's value (`key`), or the whole file (`key` None)."""

    file: str
    key: str | None
    found: str  # what the file held, as shown to people (shortened)
    expected: str
    used: str | None = None  # what the reader took instead (the key's default)

    @property
    def unreadable(self) -> bool:
        return self.key is None

    @property
    def text(self) -> str:
        if self.key is None:
            return f"{self.file}: {self.found}; expected {self.expected}"
        return f"{self.file}: `{self.key}` held {self.found}, expected {self.expected}; read as {self.used}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "key": self.key,
            "found": self.found,
            "expected": self.expected,
            "used": self.used,
            "message": self.text,
            "fix": STATUS_FIX,
        }


def _shown(value: Any, limit: int = 60, kind: bool = True) -> str:
    """A JSON value as people read it, with its JSON type: '"123" (a string)'."""
    what = (
        "null"
        if value is None
        else "a boolean"
        if isinstance(value, bool)
        else "a number"
        if isinstance(value, (int, float))
        else "a string"
        if isinstance(value, str)
        else "an array"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else type(value).__name__
    )
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = "…"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if value is None or not kind else f"{text} ({what})"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is not a step count


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)  # NaN allowed: a diverged loss


def _is_time(v: Any) -> bool:
    return isinstance(v, str) and parse_time(v) is not None


def _shallow(v: Any, depth: int = 0) -> bool:
    if depth > MAX_EXTRA_DEPTH:
        return False
    if isinstance(v, dict):
        return all(_shallow(x, depth + 1) for x in v.values())
    if isinstance(v, list):
        return all(_shallow(x, depth + 1) for x in v)
    return True


def _optional(accepts: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or accepts(v)


_TIME = "an ISO-8601 UTC time such as 2025-01-03T10:00:00Z"
_COUNT = (lambda v: _is_int(v) and v >= 0, "a whole number >= 0")
_NUMBER = (_is_number, "a number")
_OPT_NUMBER = (_optional(_is_number), "a number or null")
_OPT_TEXT = (_optional(lambda v: isinstance(v, str)), "a string or null")
_OPT_TIME = (_optional(_is_time), f"{_TIME}, or null")

# key -> (accepts(value), what was expected, for people): the contract of docs/status-contract.md
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "running": (lambda v: isinstance(v, bool), "true or false"),
    "step": _COUNT,
    "total_steps": _COUNT,
    "epoch": _NUMBER,
    "total_epochs": _NUMBER,
    "loss": _OPT_NUMBER,
    "learning_rate": _OPT_NUMBER,
    "eta_seconds": _OPT_NUMBER,
    "started_at": _OPT_TIME,
    "checkpoint_at": _OPT_TIME,
    "error": _OPT_TEXT,
    "last_updated": _OPT_TIME,
    "schema_version": (_is_int, "a whole number"),
    "run_id": _OPT_TEXT,
    "pid": (
        _optional(lambda v: _is_int(v) and 0 < v <= PID_MAX),
        f"a process id (a whole number from 1 to {PID_MAX}), or null",
    ),
    "process_space": _OPT_TEXT,
    "phase": (lambda v: v in PHASES, "one of " + ", ".join(PHASES)),
    "eval_loss": _OPT_NUMBER,
    "tokens_per_second": _OPT_NUMBER,
    "peak_vram_gb": _OPT_NUMBER,
    "backend": _OPT_TEXT,
    "model": _OPT_TEXT,
    "completed_at": _OPT_TIME,
    "resumed_from": _OPT_TEXT,
    "error_kind": _OPT_TEXT,
    "solution": _OPT_TEXT,
    "message": _OPT_TEXT,
    "extra": (lambda v: isinstance(v, dict) and _shallow(v), f"an object (nested at most {MAX_EXTRA_DEPTH} deep)"),
}
assert set(CHECKS) == {f.name for f in fields(Status)}, "every key of the contract has its check"


def _original_phase(st: Status) -> str:
    """The phase of a document in the original layout (no `phase` key: the runner before forge,
    or another writer keeping to the original keys), from the keys it does have."""
    if st.running:
        return "training"
    if st.error:
        return "failed"
    if st.total_steps and st.step >= st.total_steps:
        return "done"
    return "idle"


def write_status(path: Path, status: Status) -> None:
    status.last_updated = utcnow()
    atomic_write_json(path, status.to_dict())


def read_status(path: Path) -> Status:
    """The current status; an idle Status when the file is missing or unreadable, and each wrongly
    typed value read as its default (read_status_checked says what was wrong)."""
    return read_status_checked(path)[0]


def read_status_checked(path: Path) -> tuple[Status, list[StatusProblem]]:
    """The current status and the problems of its file; never raises on what the file holds.

    A missing file is no problem (no run yet). A file that cannot be read or is not a JSON object
    gives an idle Status and one problem with key None; wrongly typed values, one problem each."""
    name = str(path)
    whole = "a JSON object (the status forge train writes)"

    def unreadable(found: str) -> tuple[Status, list[StatusProblem]]:
        return Status(), [StatusProblem(name, None, found, whole)]

    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_STATUS_BYTES + 1)
    except FileNotFoundError:
        return Status(), []
    except OSError as e:
        return unreadable(f"could not be read ({e.strerror or e})")
    if len(raw) > MAX_STATUS_BYTES:
        return unreadable(f"is over {MAX_STATUS_BYTES // 1024} KiB")
    if not raw.strip():
        return unreadable("is empty")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return unreadable("is not UTF-8 text")
    except json.JSONDecodeError as e:
        return unreadable(f"is not valid JSON ({e.msg}: line {e.lineno} column {e.colno}; cut short or edited)")
    except (ValueError, RecursionError):  # e.g. nested deeper than the parser goes
        return unreadable("is not JSON forge can read")
    if not isinstance(data, dict):
        return unreadable(f"holds {_shown(data)}")
    return Status.checked(data, name)


class StatusWriter:
    """The single writer of a run's status. Every update is written at once, atomically."""

    def __init__(self, path: Path, **initial: Any):
        self.path = path
        self.root = path.parent.parent  # Project.status_file is ROOT/.factory/training-status.json
        if initial.get("pid") is not None and "process_space" not in initial:
            initial["process_space"] = process_space()  # so readers can judge the pid at once
        self.status = Status(**initial)

    def update(self, **changes: Any) -> Status:
        kind = changes.get("error_kind")
        if kind is not None and kind not in ERROR_KINDS:
            changes["error_kind"] = "internal"  # the contract's words only (the error string keeps the detail)
        for key, value in changes.items():
            if key in HINT_FIELDS:
                value = name_folder(value, self.root, absolute=True)
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
