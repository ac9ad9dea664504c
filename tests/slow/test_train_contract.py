"""The recipe's promises to the user, end to end on CPU with the tiny built-in Llama (slow).

- `--force` keeps the previous run until the new one has validated and written its first
  complete checkpoint (issue 17.2): an invalid new run leaves the old one intact;
- the status contract on resume (17.5): `run_id` and `started_at` are kept, `resumed_from` names
  the checkpoint, an interrupted run has `error_kind: "interrupted"`, and the key table of
  docs/status-contract.md matches a real status file key for key;
- a signal during an eval stops within seconds, with a checkpoint at the last step (15.5).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train import INJECT, flat, forge, make_project, sets, status
from tests.conftest import forge_here

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "status-contract.md"


def checkpoints(root: Path) -> dict[str, bytes]:
    """checkpoint name -> its marker's bytes (a restored run has the very same markers)."""
    return {c.name: (c / "forge-complete.json").read_bytes() for c in sorted((root / "outputs").glob("checkpoint-*"))}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("force") / "proj", n=16)
    res = forge_here("train", str(root), *sets("training.max_steps=4"))
    assert res.returncode == 0, res.stderr[-3000:]
    return root


@pytest.mark.parametrize(
    "bad",
    [
        ("--set", "dataset.chat_template=no-such-template"),  # refused when the template is looked up
        ("--set", "dataset.path=data/splits/broken.jsonl"),  # refused by data validation
    ],
)
def test_force_with_an_invalid_setting_keeps_the_previous_run(finished, tmp_path, bad):
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(finished, root)
    (root / "data" / "splits" / "broken.jsonl").write_text('{"conversations": [{"from": "human"}]}\n')
    before = checkpoints(root)
    run_file = (root / "outputs" / "forge-run.json").read_bytes()
    history = (root / "metrics" / "training-history.jsonl").read_bytes()
    assert before

    res = forge_here("train", str(root), *sets("training.max_steps=4"), "--force", *bad)
    assert res.returncode == 2, res.stderr[-3000:]
    assert checkpoints(root) == before, "the previous run's checkpoints were lost"
    assert (root / "outputs" / "forge-run.json").read_bytes() == run_file
    assert (root / "metrics" / "training-history.jsonl").read_bytes() == history
    assert not (root / "outputs" / ".previous-run").exists()
    assert status(root)["phase"] == "failed"
    print(f"\n--force {bad[1]}: refused (exit 2), {len(before)} checkpoint(s) kept byte for byte")
    # and the kept run still resumes
    res = forge_here("train", str(root), *sets("training.max_steps=4"), "--resume")
    assert res.returncode == 0, res.stderr[-3000:]


def test_force_with_a_valid_run_replaces_the_previous_one(finished, tmp_path):
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(finished, root)
    old_id = json.loads((root / "outputs" / "forge-run.json").read_text())["run_id"]
    res = forge_here("train", str(root), *sets("training.max_steps=2"), "--force")
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(checkpoints(root)) == ["checkpoint-2"]  # the old run's checkpoint-4 is gone
    assert not (root / "outputs" / ".previous-run").exists()
    run = json.loads((root / "outputs" / "forge-run.json").read_text())
    assert run["run_id"] != old_id and status(root)["run_id"] == run["run_id"]


def documented_keys() -> set[str]:
    """The first column of the two key tables of docs/status-contract.md."""
    keys, in_table = set(), False
    for line in DOCS.read_text().splitlines():
        if line.startswith("## "):
            in_table = line in ("## The original keys (names and types unchanged)", "## forge's additions")
        m = re.match(r"^\| `([a-z_]+)` \|", line)
        if in_table and m:
            keys.add(m.group(1))
    return keys


def test_resume_keeps_run_id_and_started_at_and_interrupt_has_its_error_kind(tmp_path):
    root = make_project(tmp_path / "proj", n=64)
    cmd = [sys.executable, "-m", "forge", "train", str(root), *sets()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if status(root).get("step", 0) >= 3 and status(root).get("phase") == "training":
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-3000:]
    first = status(root)
    assert first["phase"] == "interrupted" and first["error_kind"] == "interrupted"
    assert first["resumed_from"] is None

    res = forge_here("train", str(root), *sets(), "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    st = status(root)
    assert st["phase"] == "done" and st["error_kind"] is None
    assert st["run_id"] == first["run_id"] and st["started_at"] == first["started_at"]
    assert st["resumed_from"] == f"checkpoint-{first['step']}"
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["run_id"] == first["run_id"] and stats["started_at"] == first["started_at"]

    # the docs' key table and a real status file agree, key for key
    assert documented_keys() == set(st), documented_keys() ^ set(st)


def test_a_signal_during_a_long_eval_stops_within_seconds_with_a_checkpoint(tmp_path):
    root = make_project(tmp_path / "proj", n=32)
    val = root / "data" / "splits" / "val.jsonl"
    rows = [json.loads(line) for line in val.read_text().splitlines()]
    val.write_text("".join(json.dumps(rows[i % len(rows)]) + "\n" for i in range(400)))
    # each eval batch sleeps 0.2 s: an eval takes ~20 s, the whole run minutes
    env = {**INJECT, "FORGE_TEST_EVAL_DELAY": "0.2"}
    # every eval scores all 400 rows (no plan sample): the eval is long on purpose
    long_eval = ("training.eval_steps=2", "training.save_steps=5", "training.eval_samples=null")
    cmd = [sys.executable, "-m", "forge", "train", str(root), *sets(*long_eval)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and status(root).get("phase") != "evaluating":
        time.sleep(0.05)
    assert status(root).get("phase") == "evaluating", proc.stderr.read()[-3000:] if proc.poll() is not None else ""
    eta = status(root).get("eta_seconds")
    time.sleep(0.5)
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    took = time.time() - t0
    assert proc.returncode == 130, err[-3000:]
    assert took < 10, f"stopping took {took:.1f} s"
    print(f"\nSIGINT during an eval of ~20 s: stopped in {took:.1f} s")  # docs/reliability.md
    st = status(root)
    assert st["phase"] == "interrupted" and st["error_kind"] == "interrupted"
    step = st["step"]
    assert step == 2  # the eval of step 2 was cut short
    assert (root / "outputs" / f"checkpoint-{step}" / "forge-complete.json").is_file()
    assert f"checkpoint-{step}" in flat(st["message"])
    assert eta is not None
    # the checkpoint written in the middle of the eval resumes (without the slow eval this time)
    res = forge_here("train", str(root), *sets(*long_eval), "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    assert status(root)["resumed_from"] == f"checkpoint-{step}"


def test_the_eta_counts_the_evals_still_to_come():
    from types import SimpleNamespace

    from forge.train.callbacks import ForgeCallback

    cb = ForgeCallback(
        status=None, history_path=Path("h"), log=None, stop=None, run_id="r", eval_examples=400, eval_steps=10
    )
    args = SimpleNamespace(per_device_train_batch_size=4, gradient_accumulation_steps=1)
    state = SimpleNamespace(global_step=10, max_steps=100)
    cb.start_step, cb.step_seconds = 0, 10.0  # 1 s per optimizer step of 4 examples
    train_only = 90.0
    # before any eval: a forward over 400 examples at a third of 0.25 s each, for 9 evals to come
    assert cb._eta(state, args) == pytest.approx(train_only + 9 * 400 * 0.25 / 3)
    cb.eval_seconds = [20.0]  # measured
    assert cb._eta(state, args) == pytest.approx(train_only + 9 * 20.0)
    # an end off the cadence adds the recipe's final eval
    state.max_steps = 95
    assert cb._eta(state, args) == pytest.approx(85.0 + 9 * 20.0)


def test_the_plans_val_sample_count_is_applied_logged_and_in_the_status(tmp_path):
    root = make_project(tmp_path / "proj", n=16)
    val = root / "data" / "splits" / "val.jsonl"
    rows = [json.loads(line) for line in val.read_text().splitlines()]
    val.write_text("".join(json.dumps(rows[i % len(rows)]) + "\n" for i in range(200)))
    res = forge_here("train", str(root), *sets("training.max_steps=2", "training.eval_samples=16"))
    assert res.returncode == 0, res.stderr[-3000:]
    st = status(root)
    assert st["extra"]["eval_samples"] == 16 and st["extra"]["val_samples"] == 200
    assert "eval on 16 of 200 val examples" in (root / "logs" / "training.log").read_text()
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["val_samples"] == 200 and stats["val_samples_used"] == 16


def test_logging_steps_above_the_runs_steps_still_records_the_final_loss(tmp_path):
    # QA: logging_steps 5 (the support example's) with max_steps 2 ended "done, final loss -", an
    # empty history and final_loss null, so `forge verify` said "has no final metrics"
    root = make_project(tmp_path / "proj", n=16)
    res = forge_here("train", str(root), *sets("training.max_steps=2", "training.logging_steps=5"), "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout)
    assert isinstance(stats["final_loss"], float) and stats["total_steps"] == 2
    lines = (root / "metrics" / "training-history.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    assert [r["step"] for r in rows if r["loss"] is not None] == [2]  # the last step, logged
    assert status(root)["loss"] == pytest.approx(stats["final_loss"], rel=1e-4)
    res = forge("verify", str(root), "--json")
    assert "no final metrics" not in res.stdout
