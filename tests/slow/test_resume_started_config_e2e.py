"""A plain `forge train --resume` continues a `--config exp1.json` run whose stats were never
written (forge.config.verb_config.started_run: the status records the config when the run starts), on
the tiny Llama (slow).

QA: the config a run read was on record only in metrics/training-stats.json, written when it
finishes, so after an interrupted `forge train --config exp1.json` (outputs-exp1) a plain
`--resume` looked in outputs/ and started a new run there.
"""

from __future__ import annotations

import json

import pytest
from test_train import make_project, sets
from tests.conftest import forge_here

pytestmark = pytest.mark.slow


def test_a_plain_resume_follows_the_config_the_run_started_with(tmp_path):
    root = make_project(tmp_path / "proj", n=32)
    (root / "exp1.json").write_text(json.dumps({"training": {"output_dir": "outputs-exp1"}}))
    first = forge_here(
        "train", str(root), "--config", "exp1.json", *sets("training.max_steps=2", "training.save_steps=2")
    )
    assert first.returncode == 0, first.stderr[-3000:]
    (root / "metrics" / "training-stats.json").unlink()  # as a run stopped before its end leaves it

    res = forge_here("train", str(root), "--resume", "--json", "--set", "training.max_steps=4")
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout)
    assert got["resumed_from"] == "checkpoint-2" and got["total_steps"] == 4  # before: a new run in outputs/
    err = " ".join(res.stderr.split())
    assert "--resume: reading the config of the last run" in err and "--config exp1.json" in err
    assert "fix: pass --config" in err
    assert (root / "outputs-exp1" / "checkpoint-4").is_dir()
    assert not list((root / "outputs").glob("checkpoint-*"))
    assert got["config_source"]["file"] == "exp1.json"
