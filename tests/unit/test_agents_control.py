"""forge --version, `forge status --wait`, `forge stop`, `forge runs` and the runs list, without a
real run: a status file and the project lock held the way a running train holds them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from forge import __version__
from forge.cli import main
from forge.control.history import list_runs
from forge.control.outcome import outcome_code
from forge.project import Project
from forge.records.runs import RunEvent, append_event
from forge.status import StatusWriter


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project.at(tmp_path / "p")
    p.root.mkdir()
    return p


def test_version_is_the_one_the_web_api_reports(capsys):
    from fastapi.testclient import TestClient

    from forge.web.app import create_app

    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out.strip() == f"forge {__version__}"
    info = TestClient(create_app([]), base_url="http://127.0.0.1:7860").get("/api/info").json()
    assert info["version"] == __version__


def test_wait_without_a_run_answers_at_once_with_the_last_outcome(proj, capsys):
    t0 = time.monotonic()
    assert main(["status", str(proj.root), "--wait"]) == 1  # no run yet: nothing was trained
    capsys.readouterr()
    w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="r1")
    w.phase("done", step=4, total_steps=4)
    assert main(["status", str(proj.root), "--wait", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["effective_phase"] == "done"
    w.phase("interrupted", signal="SIGINT")
    assert main(["status", str(proj.root), "--wait"]) == 130
    w.phase("interrupted", signal="SIGTERM")
    assert main(["status", str(proj.root), "--wait"]) == 143
    w.phase("failed", error="boom", error_kind="internal")
    assert main(["status", str(proj.root), "--wait"]) == 1
    assert time.monotonic() - t0 < 20


def test_wait_times_out_with_124_while_a_train_holds_the_lock(proj, capsys):
    from forge.lock import ProjectLock

    w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="r2")
    w.phase("training", step=1, total_steps=10)
    with ProjectLock(proj.lock_file, "train"):
        t0 = time.monotonic()
        assert main(["status", str(proj.root), "--wait", "--timeout", "1", "--json"]) == 124
        assert 1 <= time.monotonic() - t0 < 10
    view = json.loads(capsys.readouterr().out)
    assert view["running"] is True and view["run_id"] == "r2"


def test_wait_returns_when_the_run_ends(proj, capsys):
    import threading

    w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="r3")
    w.phase("training", step=1, total_steps=2)
    threading.Timer(1.0, lambda: w.phase("done", step=2)).start()
    assert main(["status", str(proj.root), "--wait", "--json", "--timeout", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["effective_phase"] == "done"


def test_outcome_codes():
    assert outcome_code({"effective_phase": "done"}) == 0
    assert outcome_code({"effective_phase": "crashed"}) == 1
    assert outcome_code({"effective_phase": "unreadable"}) == 1
    assert outcome_code({"effective_phase": "interrupted", "extra": {}}) == 143  # an older forge: no signal


def test_stop_with_nothing_running_exits_1(proj, capsys):
    assert main(["stop", str(proj.root), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)
    assert err["ok"] is False and err["kind"] == "not_running" and "nothing to stop" in err["error"]


def test_stop_signals_only_the_lock_holder_and_waits_for_the_lock(proj, capsys):
    # a stand-in writer: holds the project lock as `train`, and lets it go on SIGTERM after a moment
    code = (
        "import signal, sys, time\n"
        "from forge.lock import ProjectLock\n"
        f"lock = ProjectLock({str(proj.lock_file)!r}, 'train').acquire()\n"
        "def stop(*_):\n"
        "    time.sleep(0.5); lock.release(); sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert main(["stop", str(proj.root), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["stopped"] == {"pid": holder.pid, "verb": "train", "signal": "SIGTERM"}
        assert holder.wait(timeout=10) == 143
        assert bystander.poll() is None  # nobody else was signalled
    finally:
        for p in (holder, bystander):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()


def _event(proj, **fields):
    append_event(proj.runs_file, RunEvent(at=fields.pop("at", "2026-12-07T10:00:00Z"), **fields))


def test_runs_fold_attempts_crashes_and_the_gate(proj, capsys):
    dead = 2**22 + 4321
    _event(proj, event="start", run_id="a", verb="train", pid=dead)
    _event(
        proj,
        event="end",
        run_id="a",
        verb="train",
        pid=dead,
        outcome="interrupted",
        exit_code=143,
        checkpoint="outputs/checkpoint-4",
        steps=4,
    )
    _event(proj, event="start", run_id="a", verb="train", pid=dead + 1, resumed_from="checkpoint-4")
    _event(
        proj,
        event="end",
        run_id="a",
        verb="train",
        pid=dead + 1,
        outcome="done",
        exit_code=0,
        steps=10,
        final_loss=0.5,
        adapter="models/checkpoints/lora",
    )
    _event(proj, event="start", run_id="e1", verb="evaluate", pid=dead + 2)
    _event(
        proj,
        event="end",
        run_id="e1",
        verb="evaluate",
        pid=dead + 2,
        outcome="done",
        exit_code=3,
        adapter_run_id="a",
        passed=False,
    )
    _event(proj, event="start", run_id="b", verb="train", pid=dead + 3)  # killed -9: no end line
    proj.runs_file.write_text(proj.runs_file.read_text() + '{"event": "end", "run_id": "torn"')  # a torn last line
    runs = list_runs(proj)
    assert [r.run_id for r in runs] == ["a", "e1", "b"]
    a, e1, b = runs
    assert a.attempts == 2 and a.outcome == "done" and a.steps == 10 and a.checkpoint is None
    assert a.resumed_from == "checkpoint-4" and a.gate_passed is False and a.adapter == "models/checkpoints/lora"
    assert e1.exit_code == 3 and e1.passed is False
    assert b.outcome == "crashed"
    assert main(["runs", str(proj.root), "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["a", "e1", "b"]
    assert main(["runs", str(proj.root)]) == 0


def test_runs_of_a_project_trained_before_the_log(proj):
    w = StatusWriter(proj.status_file, pid=2**22, run_id="old")
    w.phase("done", step=5, total_steps=5, loss=0.3, previous_run={"run_id": "older", "phase": "failed"})
    runs = list_runs(proj)
    assert [(r.run_id, r.outcome) for r in runs] == [("older", "failed"), ("old", "done")]
