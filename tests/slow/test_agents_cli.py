"""`forge train --detach`, `forge status --wait`, `forge stop`, `forge runs` as an agent's shell runs
them: each a command that returns, the run going on in its own session (CPU, builtin:tiny-llama)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.slow.test_train import INJECT, STEPS, make_project, sets, status, train_losses

pytestmark = pytest.mark.slow


def forge(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def flat(text: str) -> str:
    return text.replace("\n", "")


@pytest.fixture(scope="module")
def survived(tmp_path_factory):
    """A detached run started by a shell that is then killed with its whole session, as a terminal
    closing or an agent's command timeout does: (root, the detach's --json, the run's stats)."""
    root = make_project(tmp_path_factory.mktemp("detached") / "proj")
    out = root.parent / "detach.json"
    cmd = " ".join([sys.executable, "-m", "forge", "train", str(root), *sets(), "--detach", "--json"])
    shell = subprocess.Popen(["bash", "-c", f"{cmd} > {out}; sleep 600"], start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (out.is_file() and out.read_text().strip().endswith("}")):
        assert shell.poll() is None, "the shell ended before the detach answered"
        time.sleep(0.2)
    started = json.loads(out.read_text())
    os.killpg(shell.pid, signal.SIGHUP)  # the terminal goes away ...
    os.killpg(shell.pid, signal.SIGKILL)  # ... or the agent's time limit kills the command's group
    shell.wait(timeout=30)
    assert os.getsid(started["pid"]) != shell.pid, "the run was in the shell's session"
    res = forge("status", str(root), "--wait", "--json", "--timeout", "600")
    assert res.returncode == 0, res.stdout[-2000:] + (root / "logs" / "training.log").read_text()[-3000:]
    return root, started, json.loads((root / "metrics" / "training-stats.json").read_text())


def test_a_detached_run_survives_the_shell_that_started_it(survived):
    root, started, stats = survived
    st = status(root)
    assert started["ok"] and started["run_id"] == st["run_id"] == stats["run_id"]
    assert st["phase"] == "done" and st["step"] == STEPS and st["pid"] == started["pid"]
    assert Path(started["log"]) == root / "logs" / "training.log" and Path(started["status"]).is_file()
    log = (root / "logs" / "training.log").read_text()
    assert f"forge train {stats['run_id']}" in log and "next: forge verify" in flat(log)  # its stdout, in the log
    # with no run in progress, --wait answers at once with the last run's outcome
    t0 = time.time()
    res = forge("status", str(root), "--wait")
    assert res.returncode == 0 and time.time() - t0 < 30


def test_stop_then_resume_detached_reaches_the_uninterrupted_final_loss(survived, tmp_path):
    ref_root, _, ref_stats = survived
    root = make_project(tmp_path / "proj")
    # each step ends a second later, so the run outlasts the commands below on a fast or a busy
    # machine alike (in a full suite run it once finished before `forge stop` reached it)
    res = forge("train", str(root), *sets(), "--detach", "--json", env={**INJECT, "FORGE_TEST_STEP_DELAY": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    started = json.loads(res.stdout)
    assert started["phase"] not in ("validating", "failed")

    # a second detached train on the locked project is refused before it starts anything
    again = forge("train", str(root), *sets(), "--detach", "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["kind"] == "locked"
    assert f"pid {started['pid']}" in flat(again.stderr)

    deadline = time.time() + 300
    while time.time() < deadline and not (status(root).get("step", 0) >= 3 and status(root)["phase"] == "training"):
        time.sleep(0.05)
    # --wait gives up after --timeout: exit 124, the run goes on
    waited = forge("status", str(root), "--wait", "--timeout", "0.5", "--json")
    assert waited.returncode == 124 and json.loads(waited.stdout)["running"] is True
    stopped = forge("stop", str(root), "--json")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    report = json.loads(stopped.stdout)
    st = status(root)
    assert report["stopped"]["pid"] == started["pid"] and report["outcome"] == "interrupted"
    assert st["phase"] == "interrupted" and st["extra"]["signal"] == "SIGTERM"
    step = st["step"]
    assert 3 <= step < STEPS and report["checkpoint"] == f"outputs/checkpoint-{step}"
    assert (root / report["checkpoint"] / "forge-complete.json").is_file() and "--resume" in report["resume"]
    assert forge("status", str(root), "--wait").returncode == 143  # the last outcome: stopped by SIGTERM
    nothing = forge("stop", str(root))
    assert nothing.returncode == 1 and "nothing to stop" in flat(nothing.stderr)

    res = forge("train", str(root), *sets(), "--resume", "--detach", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert forge("status", str(root), "--wait", "--timeout", "600").returncode == 0
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["resumed_from"] == f"checkpoint-{step}" and stats["total_steps"] == STEPS
    assert stats["final_loss"] == pytest.approx(ref_stats["final_loss"], rel=1e-4, abs=1e-5)
    assert train_losses(root)[STEPS] == pytest.approx(train_losses(ref_root)[STEPS], rel=1e-4, abs=1e-5)

    runs = json.loads(forge("runs", str(root), "--json").stdout)["runs"]
    assert len(runs) == 1 and runs[0]["run_id"] == started["run_id"] and runs[0]["attempts"] == 2
    assert runs[0]["outcome"] == "done" and runs[0]["resumed_from"] == f"checkpoint-{step}"


def test_a_detached_run_that_fails_after_detaching_says_so(tmp_path):
    root = make_project(tmp_path / "proj", n=32)
    env = {**INJECT, "FORGE_TEST_NAN_AT_STEP": "3"}
    res = forge("train", str(root), *sets("training.max_steps=6"), "--detach", "--json", env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    waited = forge("status", str(root), "--wait", "--json", "--timeout", "600")
    assert waited.returncode == 1
    final = json.loads(waited.stdout)
    assert final["effective_phase"] == "failed" and final["error_kind"] == "nan" and "5e-5" in final["solution"]
    runs = json.loads(forge("runs", str(root), "--json").stdout)["runs"]
    assert runs[-1]["outcome"] == "failed" and runs[-1]["error_kind"] == "nan" and runs[-1]["exit_code"] == 1

    # what check refuses is refused before it detaches, with train's exit code and words: bad data
    (root / "data" / "splits" / "train.jsonl").write_text('{"conversations": "not a list"}\n' * 40)
    res = forge("train", str(root), *sets(), "--detach", "--json")
    assert res.returncode == 2, res.stdout + res.stderr[-2000:]
    err = json.loads(res.stdout)
    assert err["ok"] is False and "train.jsonl" in err["error"] and err["fix"]
    assert status(root)["phase"] == "failed" and status(root)["error_kind"] == "data"
