"""A status file in the original layout (DESIGN.md's example: no `phase`, no `pid`) is read by its
keys: running is training, an error is failed, all steps done is done. QA: it read as "idle"
while running was true, and a stale one said "process None is gone"."""

from __future__ import annotations

import json

import pytest

from forge.cli import main
from forge.status import read_status

ORIGINAL = {
    "running": True,
    "step": 45,
    "total_steps": 100,
    "epoch": 2,
    "total_epochs": 3,
    "loss": 0.4523,
    "learning_rate": 1.8e-4,
    "eta_seconds": 3600,
    "started_at": "2025-01-03T10:00:00Z",
    "checkpoint_at": "2025-01-03T10:30:00Z",
    "error": None,
    "last_updated": "2025-01-03T10:31:00Z",
}


@pytest.mark.parametrize(
    "changes, phase",
    [
        ({}, "training"),
        ({"running": False, "error": "CUDA out of memory"}, "failed"),
        ({"running": False, "step": 100}, "done"),
        ({"running": False}, "idle"),
    ],
)
def test_the_phase_of_the_original_layout(tmp_path, changes, phase):
    path = tmp_path / "training-status.json"
    path.write_text(json.dumps(ORIGINAL | changes))
    assert read_status(path).phase == phase


def test_a_written_phase_is_kept(tmp_path):
    path = tmp_path / "training-status.json"
    path.write_text(json.dumps(ORIGINAL | {"phase": "evaluating", "pid": 1}))
    assert read_status(path).phase == "evaluating"


def test_a_stale_original_running_file_reads_as_crashed_without_a_pid(tmp_path, capsys):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    proj.status_file.parent.mkdir(parents=True, exist_ok=True)
    proj.status_file.write_text(json.dumps(ORIGINAL))
    assert main(["status", str(proj.root)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "crashed" in out and "the status says training" in out
    assert "None" not in out and "records no pid" in out
