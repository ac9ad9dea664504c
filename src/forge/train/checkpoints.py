"""Trainer checkpoints in output_dir, and which of them are complete.

A checkpoint counts only once forge's marker file exists in it. The marker is written by the
callback's on_save, which the Trainer calls after it has written the model, optimizer, scheduler,
RNG and trainer state, so a folder without the marker is one a crash or kill tore in half.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

MARKER = "forge-complete.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int

    @property
    def complete(self) -> bool:
        return (self.path / MARKER).is_file() and (self.path / "trainer_state.json").is_file()


def list_checkpoints(output_dir: Path) -> list[Checkpoint]:
    """Every checkpoint-N folder, oldest first."""
    if not output_dir.is_dir():
        return []
    found = []
    for p in output_dir.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir():
            found.append(Checkpoint(p, int(m.group(1))))
    return sorted(found, key=lambda c: c.step)


def newest_complete(output_dir: Path, warn=None) -> Checkpoint | None:
    """The newest complete checkpoint; torn ones newer than it are reported through `warn`."""
    for ckpt in reversed(list_checkpoints(output_dir)):
        if ckpt.complete:
            return ckpt
        if warn:
            warn(f"ignoring incomplete checkpoint {ckpt.path} (no {MARKER}: the run stopped while writing it)")
    return None


def mark_complete(path: Path, info: dict) -> None:
    """Written last, after the trainer finished the folder; fsync so a power cut cannot fake it."""
    import os

    from forge.files import readable_modes

    readable_modes(path)  # the trainer's safetensors come out 0600; outputs are 0644
    tmp = path / f".{MARKER}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / MARKER)
