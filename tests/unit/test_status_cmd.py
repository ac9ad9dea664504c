"""`forge status [DIR] [--watch] [--json]`."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from forge.cli import main
from forge.commands import status as status_cmd
from forge.files import atomic_write_json
from forge.project import Project
from forge.status import StatusWriter

DEAD_PID = 2**22 + 4321


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project.at(tmp_path / "p")
    p.root.mkdir()
    return p


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    from forge.commands.console import console

    monkeypatch.setattr(console, "_width", 120)


def test_no_run_yet(proj, capsys):
    assert main(["status", str(proj.root)]) == 0
    assert "no run yet" in capsys.readouterr().out
    assert main(["status", str(proj.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["exists"] is False and data["effective_phase"] == "idle"
    assert not (proj.root / ".factory").exists()  # reading never creates anything


def test_running_shows_the_facts(proj, capsys):
    proj.history_file.parent.mkdir(parents=True)
    with open(proj.history_file, "w") as f:
        for s in range(1, 30):
            f.write(json.dumps({"step": s, "loss": 3 / s}) + "\n")
    w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="r7", model="builtin:tiny-llama", backend="hf")
    w.phase(
        "training",
        step=45,
        total_steps=100,
        epoch=1.35,
        total_epochs=3,
        loss=0.4523,
        eval_loss=0.5,
        learning_rate=1.8e-4,
        eta_seconds=3725,
        tokens_per_second=1234.5,
        peak_vram_gb=7.25,
    )
    assert main(["status", str(proj.root)]) == 0
    out = capsys.readouterr().out
    for text in ("training", "45/100", "45.0%", "1h 02m", "0.4523", "1,234", "7.2 GB", "builtin:tiny-llama", "r7"):
        assert text in out, text
    assert "▁" in out  # the loss sparkline from the history


def test_failed_exits_1_with_error_kind_and_fix(proj, capsys):
    StatusWriter(proj.status_file, pid=os.getpid()).phase(
        "failed", error="loss is NaN at step 12", error_kind="nan", solution="try learning_rate 1e-4"
    )
    assert main(["status", str(proj.root)]) == 1
    out = capsys.readouterr().out
    assert "loss is NaN at step 12" in out and "(nan)" in out and "try learning_rate 1e-4" in out
    assert main(["status", str(proj.root), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error_kind"] == "nan"


def test_crashed_exits_1(proj, capsys):
    atomic_write_json(
        proj.status_file,
        {"running": True, "phase": "training", "pid": DEAD_PID, "last_updated": "2020-01-01T00:00:00Z", "step": 3},
    )
    assert main(["status", str(proj.root)]) == 1
    out = capsys.readouterr().out
    assert "crashed" in out and "--resume" in out
    assert main(["status", str(proj.root), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["effective_phase"] == "crashed" and data["phase"] == "training"


@pytest.mark.parametrize("phase", ["done", "interrupted"])
def test_done_and_interrupted_exit_0(proj, phase, capsys):
    StatusWriter(proj.status_file, pid=os.getpid()).phase(phase, step=10, total_steps=10)
    assert main(["status", str(proj.root)]) == 0


def test_not_a_folder_is_usage_error(tmp_path, capsys):
    assert main(["status", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def _writer(proj: Project, steps: int, final: str = "done") -> threading.Thread:
    def go():
        w = StatusWriter(proj.status_file, pid=os.getpid())
        for s in range(1, steps + 1):
            time.sleep(0.05)
            w.phase("training", step=s, total_steps=steps, eta_seconds=steps - s)
        time.sleep(0.05)
        w.phase(final, step=steps, total_steps=steps)

    t = threading.Thread(target=go)
    t.start()
    return t


def test_watch_follows_until_the_run_ends(proj, capsys):
    StatusWriter(proj.status_file, pid=os.getpid()).phase("loading")
    t = _writer(proj, 6)
    t0 = time.monotonic()
    code = status_cmd.run(proj.root, watch=True, interval=0.02, timeout=20)
    t.join()
    assert code == 0 and time.monotonic() - t0 < 10
    assert "done" in capsys.readouterr().out


def test_watch_json_prints_a_line_per_change(proj, capsys):
    StatusWriter(proj.status_file, pid=os.getpid()).phase("loading")
    t = _writer(proj, 5, final="failed")
    code = status_cmd.run(proj.root, watch=True, json_out=True, interval=0.01, timeout=20)
    t.join()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert lines[0]["effective_phase"] == "loading" and lines[-1]["effective_phase"] == "failed"
    steps = [x["step"] for x in lines]
    assert steps == sorted(steps) and len(lines) >= 3


def test_watch_of_a_finished_run_prints_once(proj, capsys):
    StatusWriter(proj.status_file, pid=os.getpid()).phase("done", step=5, total_steps=5)
    t0 = time.monotonic()
    assert status_cmd.run(proj.root, watch=True, interval=0.01, timeout=5) == 0
    assert time.monotonic() - t0 < 2


def test_epoch_and_its_total_read_alike(proj, capsys):
    # QA: a finished 150-step run read "epoch 1.88 / 1.875" (the epoch past its total), one of 10 steps
    # "0.12 / 0.125": the epoch had 2 decimals, the total all of them
    StatusWriter(proj.status_file, pid=os.getpid()).phase(
        "done", step=150, total_steps=150, epoch=1.875, total_epochs=1.875
    )
    assert main(["status", str(proj.root)]) == 0
    out = capsys.readouterr().out
    assert "1.88 / 1.88" in out and "1.875" not in out


def test_a_run_refused_at_step_0_does_not_show_the_run_befores_loss_as_its_own(proj, capsys):
    # QA: `forge train --force` refused before training (the previous run's history put back): the
    # failed run's panel drew the previous run's loss curve under "loss", as if it had trained
    proj.history_file.parent.mkdir(parents=True)
    proj.history_file.write_text("".join(json.dumps({"step": s, "loss": 3 / s}) + "\n" for s in range(1, 11)))
    StatusWriter(proj.status_file, pid=os.getpid()).phase("failed", error="refused", error_kind="config")
    main(["status", str(proj.root)])
    out = capsys.readouterr().out
    assert "loss of the run before" in out


def test_watch_started_with_a_new_train_follows_the_new_run(proj, capsys):
    # QA: `forge train P & forge status P --watch --json` printed the previous run's "done" and ended;
    # the new run took the lock and wrote its status 0.6 s after its launch
    StatusWriter(proj.status_file, pid=os.getpid(), run_id="old").phase("done", step=5, total_steps=5)

    def new_run():
        time.sleep(0.3)
        w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="new")
        for s in (1, 2):
            w.phase("training", step=s, total_steps=2)
            time.sleep(0.05)
        w.phase("done", step=2, total_steps=2)

    t = threading.Thread(target=new_run)
    t.start()
    status_cmd.run(proj.root, watch=True, json_out=True, interval=0.01, timeout=10)
    t.join()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["run_id"] == "old" and lines[-1]["run_id"] == "new" and lines[-1]["phase"] == "done"


def test_watch_waits_while_train_holds_the_lock(proj, capsys):
    from forge.lock import ProjectLock

    StatusWriter(proj.status_file, pid=os.getpid(), run_id="old").phase("done", step=5, total_steps=5)
    lock = ProjectLock(proj.lock_file, "train").acquire()
    threading.Timer(1.5, lock.release).start()
    t0 = time.monotonic()
    status_cmd.run(proj.root, watch=True, json_out=True, interval=0.01, timeout=10)
    assert time.monotonic() - t0 >= 1.4  # until the (new) run let the lock go


def test_the_eval_loss_of_a_val_sample_says_so(proj, capsys):
    """Issue 28 (12): train's eval loss covered 54 of 99 val examples, evaluate's all 99, unlabelled."""
    w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="r8", model="builtin:tiny-llama", backend="hf")
    w.phase("training", step=5, total_steps=10, eval_loss=0.5, eval_samples=54, val_samples=99)
    assert main(["status", str(proj.root)]) == 0
    assert "eval loss (54/99 val)" in capsys.readouterr().out
