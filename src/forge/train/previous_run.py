"""`forge train --force`: the previous run is kept until the new one has proved itself (torch-free).

A forced fresh run used to delete the previous run's checkpoints before it validated anything, so
an unknown chat_template left neither the old run nor a new one. Now the previous run's
checkpoints, its run file and its history are moved aside into `outputs/.previous-run/` (a rename
on the same disk), and:

- the new run writes its first complete checkpoint: the old run is deleted (`discard`);
- the new run fails or is stopped before that: the old run is moved back intact (`restore`);
- the new run is killed outright: the next `forge train` finds the folder and restores it when
  the output folder holds no complete checkpoint, else deletes it (`recover`, lock holder only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from forge.files import remove_path
from forge.train.checkpoints import list_checkpoints

ASIDE = ".previous-run"
RUN_FILE = "forge-run.json"
HISTORY = "training-history.jsonl"


class PreviousRun:
    def __init__(self, output_dir: Path, history_file: Path, log: Callable[[str], None] | None = None):
        self.output_dir = output_dir
        self.history_file = history_file
        self.aside = output_dir / ASIDE
        self.log = log or (lambda message: None)
        self.held = False  # set aside by this run and not yet discarded or restored

    # ---------------------------------------------------------------- the moves
    def set_aside(self) -> list[str]:
        """Move the previous run's checkpoints, run file and history into `.previous-run/`."""
        names: list[str] = []
        if self.aside.exists():  # a kill between set_aside and discard/restore: settle that first
            self.recover()
        moves = [(c.path, self.aside / c.path.name) for c in list_checkpoints(self.output_dir)]
        moves.append((self.output_dir / RUN_FILE, self.aside / RUN_FILE))
        moves.append((self.history_file, self.aside / HISTORY))
        moves = [(src, dst) for src, dst in moves if src.exists()]
        if not moves:
            return names
        self.aside.mkdir(parents=True, exist_ok=True)
        for src, dst in moves:
            os.replace(src, dst)
            names.append(src.name)
        self.held = True
        self.log(
            f"--force: the previous run ({', '.join(names)}) is kept in {self.aside} until this run has a checkpoint"
        )
        return names

    def discard(self) -> None:
        """The new run has a complete checkpoint: the previous run can go."""
        if not self.held:
            return
        self.held = False
        remove_path(self.aside)
        self.log("the new run has a complete checkpoint: the previous run's checkpoints are deleted")

    def restore(self) -> None:
        """The new run failed before its first complete checkpoint: put the previous run back."""
        if not self.held:
            return
        self.held = False
        self._put_back()
        self.log(f"this run stopped before its first checkpoint: the previous run is restored in {self.output_dir}")

    def recover(self) -> None:
        """A `.previous-run/` left by a killed run: back when nothing newer is complete, else gone."""
        if not self.aside.exists():
            return
        if any(c.complete for c in list_checkpoints(self.output_dir)):
            remove_path(self.aside)
            self.log(f"deleted {self.aside} (a forced run that was killed had already replaced it)")
        else:
            self._put_back()
            self.log(f"restored the previous run from {self.aside} (the forced run that set it aside was killed)")

    def _put_back(self) -> None:
        for c in list_checkpoints(self.output_dir):  # what the failed run left (torn or partial)
            remove_path(c.path)
        for p in sorted(self.aside.iterdir()):
            dst = self.history_file if p.name == HISTORY else self.output_dir / p.name
            remove_path(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dst)
        remove_path(self.aside)
