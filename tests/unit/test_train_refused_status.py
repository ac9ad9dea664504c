"""A `forge train` refused before it starts replaces the status, but the run it replaces stays on
record (`extra.previous_run`): QA found a refused train (old checkpoints, no --resume) left only
"failed 0/0" where a finished run's "done 4/4" had been.

Every refusal before the start goes that way, wherever it is decided: QA found a `--resume`
refused for its --set (decided before the recipe runs, from the run's recorded config) wrote no
status and no log line, so `forge status` and the web UI still showed the run before with no trace
of the refusal; a bad --set or --config, and a bad --gpus/--nproc, were the same.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from finished_run import RUN_ID, make_finished, snapshot
from model_folders import chat_rows, write_rows

from forge.cli import main
from forge.status import StatusWriter
from forge.train.run_status import previous_run_summary


def _finished(path, run_id="old-run", phase="done"):
    w = StatusWriter(path, run_id=run_id)
    w.phase(phase, step=4, total_steps=4, started_at="2026-12-01T10:00:00Z")
    return w


def test_summary_of_a_finished_run(tmp_path):
    path = tmp_path / "training-status.json"
    _finished(path)
    got = previous_run_summary(path)
    assert got["run_id"] == "old-run" and got["phase"] == "done"
    assert got["step"] == 4 and got["total_steps"] == 4 and got["completed_at"]


def test_no_summary_for_a_running_one_or_none(tmp_path):
    path = tmp_path / "training-status.json"
    assert previous_run_summary(path) is None  # no file
    StatusWriter(path, run_id="live").phase("training", step=2)
    assert previous_run_summary(path) is None


def test_a_refusal_hands_on_the_run_it_kept(tmp_path):
    # refusals in a row: the run before them stays on record, not the refusal before this one
    path = tmp_path / "training-status.json"
    done = {"run_id": "old-run", "phase": "done", "step": 4, "total_steps": 4}
    w = StatusWriter(path, run_id="refused-1")
    w.phase("failed", error="refused", refused=True, previous_run=done)
    assert previous_run_summary(path) == done
    # a run that failed after it started is the run before, itself
    w = StatusWriter(path, run_id="oom-run")
    w.phase("failed", error="CUDA out of memory", step=0, previous_run=done)
    assert previous_run_summary(path)["run_id"] == "oom-run"


def test_a_refused_train_keeps_the_finished_run_on_record(tmp_path, capsys):
    from forge.init.scaffold import init_project

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
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    w = StatusWriter(proj.status_file, run_id="new-run")
    w.phase("failed", error="refused", previous_run={"run_id": "old-run", "phase": "done", "step": 4, "total_steps": 4})
    main(["status", str(proj.root)])
    out = " ".join(capsys.readouterr().out.split())
    assert "the run before: old-run ended done at step 4/4" in out


@pytest.fixture
def finished(tmp_path):
    return make_finished(tmp_path / "p")


def _refused(proj, *args) -> tuple[dict, str]:
    before = snapshot(proj.root)
    rc = main(["train", str(proj.root), *args])
    assert rc == 2
    assert snapshot(proj.root) == before  # checkpoints, run file, history, stats, adapter: all kept
    return json.loads(proj.status_file.read_text()), proj.log_file.read_text()


@pytest.mark.parametrize(
    "args, kind, text",
    [
        (["--resume", "--set", "training.learning_rate=1e-3"], "resume_mismatch", "would change what its checkpoint"),
        (["--resume", "--force", "--set", "lora.r=4"], "resume_mismatch", "--set lora.r=4: the run was trained"),
        (["--resume", "--set", "training.max_steps=2"], "config", "is already at step 4"),
        (["--resume", "--set", "training.max_steps=4x"], "config", "training.max_steps"),
        (["--set", "training.bogus=1"], "config", "training.bogus: unknown key"),
        (["--config", "no-such.json"], "config", "--config no-such.json: no file at"),
        (["--nproc", "0"], "usage", "--nproc 0"),
    ],
)
def test_every_refusal_before_the_recipe_is_on_record(finished, capsys, args, kind, text):
    st, log = _refused(finished, *args)
    err = " ".join(capsys.readouterr().err.split())
    assert text in st["error"] and text.split(":")[0] in err
    assert st["phase"] == "failed" and not st["running"] and st["error_kind"] == kind and st["solution"]
    assert st["extra"]["refused"] is True
    prev = st["extra"]["previous_run"]
    assert (prev["run_id"], prev["phase"], prev["step"], prev["total_steps"]) == (RUN_ID, "done", 4, 4)
    assert f"failed ({kind}): {st['error'].splitlines()[0]}" in log and f"fix: {st['solution']}" in log
    assert log.count("==================== forge train") == 1  # its header: the refusal is an entry of its own


def test_a_refused_resume_names_the_run_it_meant(finished, capsys):
    st, _ = _refused(finished, "--resume", "--set", "training.learning_rate=1e-3")
    capsys.readouterr()
    # the run a resume continues keeps its run_id (the status contract); the model is the run's own
    assert st["run_id"] == RUN_ID and st["model"] == "builtin:tiny-llama"
    main(["status", str(finished.root)])
    out = " ".join(capsys.readouterr().out.split())
    assert "error (resume_mismatch)" in out and "fix: drop those --set values" in out
    assert f"before this attempt: {RUN_ID} ended done at step 4/4" in out


def test_a_refusal_leaves_a_project_another_verb_holds_alone(finished, capsys):
    # another process holds the project lock (a run in progress): its status and log are its own
    hold = (
        "import sys, time; from forge.lock import ProjectLock; "
        f"ProjectLock({str(finished.lock_file)!r}, 'train').acquire(); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        status, log = finished.status_file.read_bytes(), finished.log_file.read_bytes()
        rc = main(["train", str(finished.root), "--resume", "--set", "training.learning_rate=1e-3"])
        assert rc == 2 and "would change what its checkpoint" in " ".join(capsys.readouterr().err.split())
        assert finished.status_file.read_bytes() == status and finished.log_file.read_bytes() == log
    finally:
        proc.kill()
        proc.wait()


def test_no_project_is_made_for_a_folder_that_is_not_there(tmp_path, capsys):
    missing = tmp_path / "typo"
    assert main(["train", str(missing), "--set", "training.bogus=1"]) == 2
    assert not missing.exists()


def test_a_resume_refused_for_changed_data_deletes_nothing(finished, capsys):
    # the fingerprint check came after the cleanup: a refused resume had already deleted a torn
    # checkpoint-6 (and whatever else the cleanup takes); now the refusal comes first
    from test_security_checkpoints import make_checkpoint

    make_checkpoint(finished.root / "outputs", 6, marked=False)
    write_rows(finished.train_file, chat_rows(121))
    st, log = _refused(finished, "--resume")
    assert st["error_kind"] == "resume_mismatch" and "train_sha256" in st["error"]
    assert (finished.root / "outputs" / "checkpoint-6").is_dir()
    assert st["extra"]["previous_run"]["phase"] == "done"
