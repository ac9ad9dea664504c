"""The files the ranks leave for the launcher under .factory/dist/ (pids, a rank's error, rank 0's exit).

torchrun reports only that some rank failed; these files say which one, with what error, and
which processes to signal or to check that none is left behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DIST_DIR = "dist"  # under .factory/


def dist_dir(project) -> Path:
    return project.factory_dir / DIST_DIR


def _dir(project) -> Path:
    d = dist_dir(project)
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_pid(project, rank: int) -> None:
    (_dir(project) / f"rank-{rank}.pid").write_text(f"{os.getpid()}\n")


def write_rank_error(project, rank: int, message: str, kind: str, fix: str | None) -> None:
    """A rank other than 0 does not write the status: it leaves its error here for the launcher."""
    from forge.files import atomic_write_json

    record = {"rank": rank, "error": message, "error_kind": kind, "solution": fix}
    atomic_write_json(_dir(project) / f"rank-{rank}-error.json", record)


def write_exit(project, code: int) -> None:
    (_dir(project) / "rank-0.exit").write_text(f"{code}\n")


def read_exit(project) -> int | None:
    try:
        return int((dist_dir(project) / "rank-0.exit").read_text())
    except (OSError, ValueError):
        return None


def rank_pids(project) -> dict[int, int]:
    out = {}
    for p in dist_dir(project).glob("rank-*.pid"):
        try:
            out[int(p.stem.split("-")[1])] = int(p.read_text().strip())
        except (ValueError, OSError, IndexError):
            pass
    return out


def rank_errors(project) -> list[dict]:
    errors = []
    for p in sorted(dist_dir(project).glob("rank-*-error.json")):
        try:
            errors.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            pass
    return errors


def clear(project) -> None:
    """A new launch starts with no pid or error of an earlier one."""
    d = dist_dir(project)
    if d.exists():
        for p in d.iterdir():
            if p.is_file():
                p.unlink(missing_ok=True)
    d.mkdir(parents=True, exist_ok=True)
