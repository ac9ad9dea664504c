"""The web UI's `metrics_stale` on files a real `forge train` wrote (slow: the tiny Llama on CPU).

The rule (forge.check.staleness.training_stats_staleness, which `forge verify` shares) compares the run id that the status and
training-stats.json both record: this checks that the writers really record the same one, for a
finished run, for a run refused after it (a new run id, no stats), and for the next run that finishes.
"""

from __future__ import annotations

import json

import pytest
from test_train import make_project, sets
from tests.conftest import forge_here

from forge.project import Project
from forge.web.metrics import metrics_view

pytestmark = pytest.mark.slow


def test_stats_are_current_after_a_run_stale_after_a_refused_one(tmp_path):
    root = make_project(tmp_path / "proj", n=16)
    res = forge_here("train", str(root), *sets("training.max_steps=4"))
    assert res.returncode == 0, res.stderr[-3000:]
    project = Project.at(root)
    view = metrics_view(project)
    assert view["metrics_stale"] is False and view["metrics_stale_reason"] is None
    done_run = view["training_stats"]["run_id"]

    # refused before it writes anything but its status: the old stats stay, marked
    res = forge_here(
        "train", str(root), *sets("training.max_steps=4", "dataset.chat_template=no-such-template"), "--force"
    )
    assert res.returncode == 2, res.stderr[-3000:]
    refused_run = json.loads(project.status_file.read_text())["run_id"]
    view = metrics_view(project)
    assert view["metrics_stale"] is True, view
    why = view["metrics_stale_reason"]
    assert done_run in why and refused_run in why and "the run before it" in why and "fix:" in why

    res = forge_here("train", str(root), *sets("training.max_steps=4"), "--force")
    assert res.returncode == 0, res.stderr[-3000:]
    view = metrics_view(project)
    assert view["metrics_stale"] is False and view["training_stats"]["run_id"] != done_run
