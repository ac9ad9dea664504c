"""A `forge train` refused before it starts replaces the status, but the run it replaces stays on
record (`extra.previous_run`): QA found a refused train (old checkpoints, no --resume) left only
"failed 0/0" where a finished run's "done 4/4" had been."""

from __future__ import annotations

import json

from model_folders import chat_rows, write_rows

from forge.cli import main
from forge.status import StatusWriter
from forge.train.recipe import previous_run_summary


def _finished(path, run_id="old-run", phase="done"):
    w = StatusWriter(path, run_id=run_id)
    w.phase(phase, step=4, total_steps=4, started_at="2026-12-01T10:00:00Z")
    return w


def test_summary_of_a_finished_run(tmp_path):
    path = tmp_path / "training-status.json"
    _finished(path)
    got = previous_run_summary(path, "new-run")
    assert got["run_id"] == "old-run" and got["phase"] == "done"
    assert got["step"] == 4 and got["total_steps"] == 4 and got["completed_at"]


def test_no_summary_for_the_same_run_a_running_one_or_none(tmp_path):
    path = tmp_path / "training-status.json"
    assert previous_run_summary(path, "new-run") is None  # no file
    _finished(path, run_id="same")
    assert previous_run_summary(path, "same") is None  # a resume continues that run
    StatusWriter(path, run_id="live").phase("training", step=2)
    assert previous_run_summary(path, "new-run") is None


def test_a_refused_train_keeps_the_finished_run_on_record(tmp_path, capsys):
    from forge.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(20))
    proj.val_file.write_text('{"conversations": [}\n')  # refused before any model loads
    _finished(proj.status_file)
    rc = main(["train", str(proj.root), "--set", "model.name=builtin:tiny-llama"])
    capsys.readouterr()
    assert rc == 2
    st = json.loads(proj.status_file.read_text())
    assert st["phase"] == "failed" and "val.jsonl" in st["error"]
    prev = st["extra"]["previous_run"]
    assert prev["run_id"] == "old-run" and prev["phase"] == "done" and prev["step"] == 4


def test_forge_status_names_the_run_before(tmp_path, capsys):
    from forge.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    w = StatusWriter(proj.status_file, run_id="new-run")
    w.phase("failed", error="refused", previous_run={"run_id": "old-run", "phase": "done", "step": 4, "total_steps": 4})
    main(["status", str(proj.root)])
    out = " ".join(capsys.readouterr().out.split())
    assert "the run before: old-run ended done at step 4/4" in out
