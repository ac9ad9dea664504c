"""`forge verify` after a real run and a refused one (slow: the tiny Llama on CPU).

The stale rule (forge.check.staleness) reads the run ids that the status and training-stats.json
both record: this checks, on files a real `forge train` wrote, that verify passes after the run
and that after a refused run its quality checks read stale (exit 1, both run ids named, the
required items still ticked), saying what the web UI's metrics say.
"""

from __future__ import annotations

import json

import pytest
from test_train import make_project, sets
from tests.conftest import forge_here

from forge.project import Project
from forge.web.metrics import metrics_view

pytestmark = pytest.mark.slow


def _items(res) -> dict:
    return {i["name"]: i for sec in json.loads(res.stdout)["sections"].values() for i in sec}


def test_verify_passes_after_a_run_and_reads_stale_after_a_refused_one(tmp_path):
    root = make_project(tmp_path / "proj", n=16)
    res = forge_here("train", str(root), *sets("training.max_steps=4"))
    assert res.returncode == 0, res.stderr[-3000:]
    res = forge_here("verify", str(root), "--json")
    items = _items(res)
    assert json.loads(res.stdout)["stale"] is False and not any(i["stale"] for i in items.values())
    done_run = json.loads((root / "metrics" / "training-stats.json").read_text())["run_id"]
    loss = next(i for n, i in items.items() if n.startswith("final loss"))
    judged = res.returncode

    res = forge_here(
        "train", str(root), *sets("training.max_steps=4", "dataset.chat_template=no-such-template"), "--force"
    )
    assert res.returncode == 2, res.stderr[-3000:]
    refused_run = json.loads(Project.at(root).status_file.read_text())["run_id"]
    res = forge_here("verify", str(root), "--json")
    assert res.returncode == 1, res.stdout[-3000:]
    out, items = json.loads(res.stdout), _items(res)
    assert out["ok"] is False and out["stale"] is True
    stale = items[loss["name"]]
    assert stale["status"] == "fail" and stale["stale"] is True, stale
    assert done_run in stale["detail"] and refused_run in stale["detail"] and "forge train" in stale["fix"]
    assert items["loss decreased"]["stale"] is True
    for name in ("adapter_config.json", "adapter_model.safetensors", "training-stats.json"):
        assert items[name]["status"] == "ok" and items[name]["stale"] is False, items[name]
    why = metrics_view(Project.at(root))["metrics_stale_reason"]
    assert why.split("; fix: ")[0] in stale["detail"]
    print(f"\nverify: exit {judged} after the run, exit 1 (stale: {done_run} vs {refused_run}) after the refused one")
