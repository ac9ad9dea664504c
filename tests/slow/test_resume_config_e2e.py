"""`forge train --resume` continues the run as it was resolved, end to end on the tiny Llama (slow).

QA (before the fix): an interrupted `--set training.max_steps=...` run resumed with the config
file's max_steps and ended "done" at the checkpoint's step, the status reading 245%; a finished
`--set training.max_steps=4 --set training.save_steps=2` run, resumed plainly, trained on to the
file's 40 steps with the checkpoint's cadence silently winning and forge-run.json recording the
file's; the first resumed step trained at lr 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train import flat, history, make_project, sets, status
from tests.conftest import forge_here

pytestmark = pytest.mark.slow


def run_file(root: Path) -> dict:
    return json.loads((root / "outputs" / "forge-run.json").read_text())["config"]["training"]


def stats(root: Path) -> dict:
    return json.loads((root / "metrics" / "training-stats.json").read_text())


def checkpoints(root: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in (root / "outputs").glob("checkpoint-*"))


def test_an_interrupted_run_resumes_to_its_own_max_steps_with_its_own_cadence(tmp_path):
    root = make_project(tmp_path / "proj", n=64)
    own = ("training.max_steps=12", "training.save_steps=3", "training.logging_steps=1")
    cmd = [sys.executable, "-m", "forge", "train", str(root), *sets(*own)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if status(root).get("step", 0) >= 3 and status(root).get("phase") == "training":
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    stopped = status(root)["step"]
    assert 3 <= stopped < 12

    # a plain --resume: the config file says nothing of 12 steps (its default model is not even this one)
    res = forge_here("train", str(root), "--resume", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout)
    assert got["total_steps"] == 12 and got["resumed_from"] == f"checkpoint-{stopped}"  # before: done at `stopped`
    st = status(root)
    assert st["phase"] == "done" and st["step"] == st["total_steps"] == 12
    t = run_file(root)
    assert (t["max_steps"], t["save_steps"], t["logging_steps"]) == (12, 3, 1)  # before: the file's
    assert 12 in checkpoints(root) and set(checkpoints(root)) - {stopped} <= {3, 6, 9, 12}
    assert [r["step"] for r in history(root) if r["loss"] is not None] == list(range(1, 13))
    log = (root / "logs" / "training.log").read_text()
    assert "resuming: the settings recorded in" in log
    assert "does not match the trainer state" not in log  # the checkpoint's cadence never silently wins
    print(f"\ninterrupted at {stopped} of 12, plain --resume ended at 12 with save_steps 3, logging 1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("finished") / "proj", n=32)
    res = forge_here(
        "train", str(root), *sets("training.max_steps=4", "training.save_steps=2", "training.logging_steps=1")
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def copy_of(finished: Path, tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(finished, root)
    return root


def test_a_finished_run_resumed_plainly_is_already_finished(finished, tmp_path):
    root = copy_of(finished, tmp_path)
    before = history(root)
    res = forge_here("train", str(root), "--resume", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "already finished at step 4" in (root / "logs" / "training.log").read_text()
    assert json.loads(res.stdout)["total_steps"] == 4  # before: it trained on to the file's steps
    assert history(root) == before and checkpoints(root) == [2, 4]
    assert status(root)["total_steps"] == 4 and run_file(root)["max_steps"] == 4
    # the status shows where the run stands, as training-stats.json does (QA: epoch 0, no checkpoint)
    st, stats = status(root), json.loads((root / "metrics" / "training-stats.json").read_text())
    assert st["step"] == 4 and st["epoch"] == stats["epochs"] > 0 and st["checkpoint_at"], st


def test_a_larger_max_steps_trains_further_on_the_new_schedule(finished, tmp_path):
    root = copy_of(finished, tmp_path)
    res = forge_here("train", str(root), "--resume", "--json", "--set", "training.max_steps=8")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["total_steps"] == 8 and status(root)["total_steps"] == 8
    t = run_file(root)
    assert (t["max_steps"], t["save_steps"], t["logging_steps"]) == (8, 2, 1)
    assert checkpoints(root) == [4, 6, 8]  # save_total_limit 3, every 2 steps as the run said
    rows = {r["step"]: r for r in history(root) if r["loss"] is not None}
    assert sorted(rows) == list(range(1, 9))
    assert rows[5]["learning_rate"] > 0  # before: 0, the old schedule's end, for the first resumed step


@pytest.mark.parametrize(
    "item, key",
    [
        ("training.learning_rate=1e-4", "training.learning_rate"),
        ("training.save_steps=1", "training.save_steps"),
        ("training.max_steps=3", "training.max_steps"),
        ("training.max_steps=4x", "training.max_steps"),
    ],
)
def test_unsafe_or_backward_changes_are_refused_on_record_and_nothing_is_lost(finished, tmp_path, item, key):
    root = copy_of(finished, tmp_path)
    done = status(root)
    before = kept(root)
    res = forge_here("train", str(root), "--resume", "--set", item)
    assert res.returncode == 2, res.stderr[-3000:]
    err = flat(res.stderr)
    assert key in err and "Traceback" not in err and "fix" in err
    assert kept(root) == before  # checkpoints, run file, history, stats, adapter
    # the refusal is on record (before: the status and the log said nothing of it), and so is the run
    st = status(root)
    assert st["phase"] == "failed" and key in st["error"] and st["solution"] and st["error_kind"]
    prev = st["extra"]["previous_run"]
    assert (prev["run_id"], prev["phase"], prev["step"]) == (done["run_id"], "done", 4)
    assert f"failed ({st['error_kind']}): " in (root / "logs" / "training.log").read_text()


def kept(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for d in ("outputs", "metrics", "models")
        for p in sorted((root / d).rglob("*"))
        if p.is_file()
    }


def items(res) -> dict[str, dict]:
    return {i["name"]: i for sec in json.loads(res.stdout)["sections"].values() for i in sec}


def test_check_with_the_resume_flags_says_what_train_then_does(finished, tmp_path):
    # QA: check had no --resume; it said ready, then `train --resume --set ...` was refused
    root = copy_of(finished, tmp_path)
    refused = ("--resume", "--set", "training.learning_rate=1e-3")
    chk = forge_here("check", str(root), "--json", *refused)
    assert chk.returncode == 1, chk.stdout[-3000:]
    item = items(chk)["resume continues the run"]
    assert item["status"] == "fail"
    res = forge_here("train", str(root), *refused)
    assert res.returncode == 2, res.stderr[-3000:]
    st = status(root)
    assert (item["detail"], item["fix"]) == (st["error"], st["solution"])  # train's words, in check

    further = ("--resume", "--set", "training.max_steps=6")
    chk = forge_here("check", str(root), "--json", *further)
    assert chk.returncode == 0, chk.stdout[-3000:]
    assert "from checkpoint-4 (step 4)" in items(chk)["resume continues the run"]["detail"]
    res = forge_here("train", str(root), *further, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["total_steps"] == 6 and status(root)["phase"] == "done"
