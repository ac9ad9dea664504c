"""Read-only views of a project folder for the web UI and `forge status` (no torch, no FastAPI).

Everything here only reads. The history reader remembers how far it has read each
`training-history.jsonl` so that a page polling a 10,000-step run costs one `stat` and the bytes
appended since the last call, not a re-parse of the whole file.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forge.check.staleness import run_status
from forge.clock import parse_time, utc_from_timestamp
from forge.processes import pid_alive
from forge.project import Project
from forge.records.train import parse_history_line
from forge.status import FINAL_PHASES, Status, StatusProblem

# --------------------------------------------------------------------------- status


def finite(obj: Any) -> Any:
    """`obj` with NaN and infinities replaced by None (JSON has no NaN; browsers reject it)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def status_view(project: Project, now: datetime | None = None) -> dict[str, Any]:
    """The status file as a dict, plus what a reader needs: the effective phase, whether a status
    file exists, its age, and its `problems` (each a dict with message and fix; empty for a sound
    file). The effective phase is 'unreadable' for a file that is not a JSON object, 'crashed' for
    a stale running file whose writer no longer holds the project lock, else the file's phase
    (forge.check.staleness.run_status, which `forge verify` reads too). Never raises on what the
    file holds."""
    now = now or datetime.now(timezone.utc)
    out = run_status(project, now)
    problems = out.pop("problems")
    last = parse_time(out["last_updated"])
    out.update(
        pid_alive=pid_alive(out["pid"]) if out["pid"] else None,
        age_seconds=round((now - last).total_seconds(), 1) if last else None,
        progress=round(out["step"] / out["total_steps"], 4) if out["total_steps"] else None,
        final=out["effective_phase"] in ("unreadable", "crashed", *FINAL_PHASES),
        problems=problems,
    )
    return finite(out)


def unreadable_view(project: Project, error: BaseException) -> dict[str, Any]:
    """What a reader shows for a project whose status could not be made into a view at all (a bug,
    or a folder that vanished mid-read): that project reads as unreadable, the others carry on."""
    problem = StatusProblem(
        str(project.status_file), None, f"could not be read ({type(error).__name__}: {error})", "a readable status"
    )
    out = Status().to_dict()
    out.update(
        exists=False,
        effective_phase="unreadable",
        crashed=False,
        pid_alive=None,
        age_seconds=None,
        progress=None,
        final=True,
        problems=[problem.to_dict()],
    )
    return out


def status_failed(view: dict[str, Any]) -> bool:
    """Whether a status view describes a run that went wrong (failed, or crashed), or a status
    file that is damaged (unreadable, or with values of the wrong type)."""
    return view.get("effective_phase") in ("failed", "crashed", "unreadable") or bool(view.get("problems"))


def format_duration(seconds: float | None) -> str:
    """3725 -> '1h 02m', 200 -> '3m 20s', 42 -> '42s'; None -> '—'."""
    if seconds is None or not isinstance(seconds, (int, float)) or math.isnan(seconds) or seconds < 0:
        return "—"
    s = int(round(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h:02d}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {sec:02d}s"
    return f"{sec}s"


# --------------------------------------------------------------------------- history


@dataclass
class _HistoryState:
    ident: tuple[int, int] | None = None  # (device, inode) of the file we have read
    offset: int = 0
    steps: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    generation: int = 0  # bumped whenever earlier records were replaced: clients start over
    bad_lines: int = 0


class HistoryReader:
    """Incremental reader of one `metrics/training-history.jsonl`.

    Keeps a list of records ordered by step. A line for a step already seen is merged into that
    record (trainers log the eval loss of a step on its own line); a line for an earlier step means
    the run was resumed from a checkpoint, so the records after it are dropped and `generation`
    goes up. A replaced or truncated file is read again from the start (generation goes up too).
    """

    def __init__(self, path: Path):
        self.path = path
        self._state = _HistoryState()
        self._lock = threading.Lock()

    def _reset(self, ident: tuple[int, int] | None) -> None:
        gen = self._state.generation + 1
        self._state = _HistoryState(ident=ident, generation=gen)

    def refresh(self) -> _HistoryState:
        with self._lock:
            s = self._state
            try:
                st = os.stat(self.path)
            except OSError:
                if s.ident is not None or s.records:
                    self._reset(None)
                return self._state
            ident = (st.st_dev, st.st_ino)
            if s.ident != ident or st.st_size < s.offset:
                if s.ident is not None or s.records:
                    self._reset(ident)
                else:
                    s.ident = ident
                s = self._state
            if st.st_size == s.offset:
                return s
            with open(self.path, "rb") as f:
                f.seek(s.offset)
                chunk = f.read(st.st_size - s.offset)
            end = chunk.rfind(b"\n")
            if end < 0:  # no complete line yet: wait for the writer to finish it
                return s
            s.offset += end + 1
            for line in chunk[: end + 1].splitlines():
                self._add_line(s, line)
            return s

    @staticmethod
    def _add_line(s: _HistoryState, line: bytes) -> None:
        if not line.strip():
            return
        row = parse_history_line(line)  # the one row parser (old spellings such as `lr` mapped)
        if row is None:
            s.bad_lines += 1
            return
        rec = finite(row.to_data())
        del rec["schema_version"]  # the same on every row: not worth its bytes in a 10,000-row answer
        step = rec["step"]
        if s.steps and step <= s.steps[-1]:
            i = bisect.bisect_left(s.steps, step)
            if i < len(s.steps) and s.steps[i] == step and i == len(s.steps) - 1:
                merged = s.records[i]
                for k, v in rec.items():
                    if v is not None or k not in merged:
                        merged[k] = v
                return
            # an earlier step again: the run resumed from a checkpoint; later records are stale
            del s.steps[i:]
            del s.records[i:]
            s.generation += 1
        s.steps.append(step)
        s.records.append(rec)

    def column(self, key: str) -> list[Any]:
        """One key of every record (cheap: no copies of the records)."""
        s = self.refresh()
        with self._lock:
            return [r.get(key) for r in s.records]

    def since(self, since: int | None = None, max_points: int | None = None) -> dict[str, Any]:
        """Records with step > `since` (all when None), downsampled to about `max_points`."""
        s = self.refresh()
        with self._lock:
            start = 0 if since is None else bisect.bisect_right(s.steps, since)
            records = s.records[start:]
            total = len(s.records)
            last_step = s.steps[-1] if s.steps else None
            out = downsample(records, max_points) if max_points else list(records)
            return {
                "generation": s.generation,
                "since": since,
                "total_records": total,
                "returned": len(out),
                "downsampled": len(out) < len(records),
                "last_step": last_step,
                "bad_lines": s.bad_lines,
                "records": [dict(r) for r in out],
            }


def downsample(records: list[dict[str, Any]], max_points: int) -> list[dict[str, Any]]:
    """At most about `max_points` records: an even stride over the train points, the first and
    last always, and every record with an eval loss (those are sparse and each one matters)."""
    n = len(records)
    if max_points <= 0 or n <= max_points:
        return list(records)
    stride = n / max_points
    keep = {min(n - 1, int(i * stride)) for i in range(max_points)}
    keep.add(0)
    keep.add(n - 1)
    return [r for i, r in enumerate(records) if i in keep or r.get("eval_loss") is not None]


def loss_sparkline(values: list[float], width: int = 40) -> str:
    """A one-line unicode chart for the terminal."""
    vals = [v for v in values if v is not None]
    if not vals:
        return ""
    if len(vals) > width:
        stride = len(vals) / width
        vals = [vals[int(i * stride)] for i in range(width - 1)] + [vals[-1]]
    lo, hi = min(vals), max(vals)
    bars = "▁▂▃▄▅▆▇█"
    if hi - lo < 1e-12:
        return bars[3] * len(vals)
    return "".join(bars[min(7, int((v - lo) / (hi - lo) * 7.999))] for v in vals)


# --------------------------------------------------------------------------- files


class NotInProject(LookupError):
    """A requested path that is not a file of the project (missing, or outside it)."""


def safe_project_file(root: Path, relative: str) -> Path:
    """The file `relative` names inside `root`, or NotInProject.

    Refuses absolute paths, any `..` segment, backslashes and NUL, and anything whose real path
    (symlinks followed) lies outside the project's real root. Callers map NotInProject to 404.
    """
    if not relative or "\x00" in relative or "\\" in relative:
        raise NotInProject(relative)
    rel = relative
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise NotInProject(relative)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise NotInProject(relative)
    real_root = root.resolve()
    try:
        target = real_root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotInProject(relative) from None
    if not target.is_relative_to(real_root) or not target.is_file():
        raise NotInProject(relative)
    return target


def artifact_folders(project: Project, kinds: dict[Path, str] | None = None) -> list[Path]:
    """models/ and the output folders the outputs checklist checks (the last run's, by the verbs'
    rule: forge.config.verb_config), each once: a run saved with save.lora_path=exp1/lora lists exp1/lora,
    as the checklist beside the list shows it (QA: the list was empty there)."""
    folders: list[Path] = []
    for folder in (project.root / "models", *(kinds if kinds is not None else _output_kinds(project))):
        if any(folder == f or folder.is_relative_to(f) for f in folders):
            continue
        folders = [f for f in folders if not f.is_relative_to(folder)] + [folder]
    return folders


def _output_kinds(project: Project) -> dict[Path, str]:
    from forge.config.verb_config import reader_config

    out = project.outputs(reader_config(project))
    return {out.lora: "lora", out.merged: "merged", out.gguf: "quantized"}


def list_artifacts(project: Project) -> list[dict[str, Any]]:
    """Files under models/ and the config's output folders (sizes in bytes), symlinks leading
    outside the project skipped; each with its kind by the folder it is in."""
    real_root = project.root.resolve()
    kinds = _output_kinds(project)
    out: list[dict[str, Any]] = []
    for base in artifact_folders(project, kinds):  # the config read once, not once per helper
        if base.is_dir():
            _walk_artifacts(project, base, real_root, kinds, out)
    return out


def _walk_artifacts(
    project: Project, base: Path, real_root: Path, kinds: dict[Path, str], out: list[dict[str, Any]]
) -> None:
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        # an export's or a save's work in progress (or what a killed one left, which the next one
        # clears) is not an output: `*.partial` and the hidden `.forge-*` scratch folders
        dirnames[:] = sorted(d for d in dirnames if not _in_progress(d))
        for name in sorted(n for n in filenames if not _in_progress(n)):
            p = Path(dirpath) / name
            try:
                real = p.resolve(strict=True)
                if not real.is_relative_to(real_root):
                    continue
                st = real.stat()
            except (OSError, RuntimeError):
                continue
            try:
                rel = p.relative_to(project.root).as_posix()
            except ValueError:  # an output folder the config puts outside the project: not listed
                continue
            out.append(
                {
                    "path": rel,
                    "size": st.st_size,
                    "modified": utc_from_timestamp(st.st_mtime),
                    "kind": artifact_kind(rel, next((k for f, k in kinds.items() if p.is_relative_to(f)), None)),
                }
            )


def _in_progress(name: str) -> bool:
    return name.endswith(".partial") or name.startswith(".forge-")


def artifact_kind(rel: str, folder_kind: str | None = None) -> str:
    if rel.endswith(".gguf"):
        return "gguf"
    if folder_kind:  # the config's output folder the file is in (save.lora_path, ...)
        return folder_kind
    if rel.startswith("models/checkpoints/lora/"):
        return "lora"
    if rel.startswith("models/checkpoints/merged/"):
        return "merged"
    if rel.endswith(".gguf"):
        return "gguf"
    if rel.startswith("models/quantized/"):
        return "quantized"
    return "other"


def human_size(n: int | float | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def tail_lines(path: Path, lines: int = 200, max_bytes: int = 256 * 1024) -> list[str]:
    """The last `lines` lines of a text file, reading at most `max_bytes` from its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    out = text.splitlines()
    if size > max_bytes and out:
        out = out[1:]  # the first line is probably cut
    return out[-lines:]
