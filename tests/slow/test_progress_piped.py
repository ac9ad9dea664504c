"""Progress when stdout is not a terminal (CI, nohup, an agent): a plain line at a steady interval.

QA (issue 28): with stdout piped, train said nothing for 771 s and baseline for 461 s; progress
went only to the log. FORGE_PROGRESS_SECONDS=0.1 makes the interval a tenth of a second here (default 60), so a tiny baseline that ends within a second still prints one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import make_project, sets

import forge

pytestmark = pytest.mark.slow
SRC = Path(forge.__file__).resolve().parents[1]


def _piped(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGE_PROGRESS_SECONDS": "0.1", "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "forge", *args], capture_output=True, text=True, env=env, timeout=600
    )  # stdout and stderr are pipes: not a terminal


def test_train_and_baseline_print_progress_lines_when_piped(tmp_path):
    root = make_project(tmp_path / "proj")
    res = _piped("train", str(root), *sets("training.max_steps=6", "training.save_steps=3"))
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [x for x in res.stdout.splitlines() if re.match(r"\[\d\d:\d\d:\d\d\] forge train: ", x)]
    assert len(lines) >= 2, res.stdout
    training = [x for x in lines if re.search(r"step \d+/6 \(\d+%\)", x)]
    assert training and any("loss " in x and "tok/s" in x and "ETA" in x for x in training), lines
    assert "\r" not in res.stdout + res.stderr
    assert "\r" not in (root / "logs" / "training.log").read_text()

    res = _piped("baseline", str(root), *sets(), "--json")  # --json: the lines go to stderr, stdout is the answer's
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.lstrip().startswith("{") and "forge baseline:" not in res.stdout
    assert re.search(r"\] forge baseline: .*elapsed", res.stderr), res.stderr[-2000:]
    assert "\r" not in res.stderr, res.stderr[-2000:]  # transformers' "Loading weights" bar
