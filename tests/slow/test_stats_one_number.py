"""training-stats.json: one number for one thing, labelled (slow: two tiny-llama runs on the CPU).

Issue 28 (12): train's final eval loss covered 54 of 99 val examples while evaluate's covered all
99, with nothing to tell them apart; after a resume `duration_seconds` was the last segment's
while `started_at` was the original start.
"""

from __future__ import annotations

import json
import time

import pytest
from test_train import make_project, sets
from tests.conftest import forge_here

pytestmark = pytest.mark.slow


def _stats(root):
    return json.loads((root / "metrics" / "training-stats.json").read_text())


def test_a_resumed_run_counts_every_segment_and_labels_its_eval_loss(tmp_path):
    root = make_project(tmp_path / "proj", n=32)
    first = ("training.max_steps=4", "training.save_steps=2", "training.eval_steps=2", "training.eval_samples=3")
    res = forge_here("train", str(root), *sets(*first))
    assert res.returncode == 0, res.stderr[-3000:]
    a = _stats(root)
    assert (
        a["eval_loss_scope"].startswith("3 of 8 val examples")
        and "`forge evaluate` scores all 8" in a["eval_loss_scope"]
    )
    assert a["val_samples_used"] == 3 and a["val_samples"] == 8
    assert a["duration_seconds"] == a["segment_seconds"]  # one segment
    assert "eval loss" in res.stdout and "(on 3 of 8 val examples)" in " ".join(res.stdout.split())
    marker = json.loads((root / "outputs" / "checkpoint-4" / "forge-complete.json").read_text())
    assert 0 < marker["elapsed_seconds"] <= a["duration_seconds"]

    time.sleep(2)  # a pause between the segments: in the wall clock, not in the training time
    res = forge_here("train", str(root), "--resume", "--set", "training.max_steps=6")
    assert res.returncode == 0, res.stderr[-3000:]
    b = _stats(root)
    assert b["resumed_from"] == "checkpoint-4" and b["started_at"] == a["started_at"]
    assert b["duration_seconds"] == pytest.approx(marker["elapsed_seconds"] + b["segment_seconds"], abs=0.2)
    assert b["segment_seconds"] < b["duration_seconds"] <= b["wall_seconds"]
    assert b["wall_seconds"] >= a["duration_seconds"] + b["segment_seconds"] + 1.5
    # the seed's keys are kept beside forge's (docs/status-contract.md lists them)
    assert b["final_loss"] == b["final_train_loss"] and b["dataset_samples"] == b["train_samples"]
