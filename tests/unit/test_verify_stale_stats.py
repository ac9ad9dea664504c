"""`forge verify`'s quality checks on another run's training stats are stale, not passed.

QA: after a run that was refused or failed before it wrote its own stats (or while a new run
trains), the outputs checklist judged "final loss < 0.5" and "loss decreased" on the older run's
metrics/training-stats.json, unmarked, and `forge verify` exited 0. Whose stats they are is the
web UI's rule (forge.check.staleness, shared, not copied): those checks now fail marked `stale`,
with whose stats they are and the fix; the required items still ask only whether the files are
there and whole. Hand-made project folders; no torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_outputs import safetensors_bytes

from evaluate_files import write_metrics
from forge.check.outputs import run_verify
from forge.cli import main
from forge.files import atomic_write_json
from forge.hints import name_folder
from forge.init.scaffold import init_project
from forge.records.base import write_record
from forge.records.train import TrainingStats
from forge.status import StatusWriter

DEAD_PID = 2**22 + 4321
A_START, A_DONE, B_START = "2025-01-01T10:00:00Z", "2025-01-01T10:30:00Z", "2025-01-02T09:00:00Z"
QUALITY = ("final loss < 0.5", "loss decreased")


def run_a(root, final_loss=0.3, run_id="run-a"):
    """The outputs of a finished run A: adapter, stats (with its run id, as forge train writes
    them), history, and a status of that run done."""
    proj, _ = init_project(root)
    proj.lora_dir.mkdir(parents=True, exist_ok=True)
    (proj.lora_dir / "adapter_config.json").write_text("{}")
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    fields = dict(model="builtin:tiny-llama", final_loss=final_loss, total_steps=4, first_train_loss=2.0)
    fields.update(run_id=run_id, started_at=A_START, completed_at=A_DONE)
    write_record(proj.training_stats_file, TrainingStats(**{k: v for k, v in fields.items() if v is not None}))
    proj.history_file.write_text(
        "".join(json.dumps({"step": i + 1, "loss": v}) + "\n" for i, v in enumerate((2.0, 1.2, 0.6, final_loss)))
    )
    status(proj, run_id, "done", started_at=A_START, step=4, total_steps=4)
    write_metrics(proj)  # a passed gate: the quality verdict (forge.evaluate.verdict)
    return proj


def status(proj, run_id, phase, started_at=B_START, pid=None, **more):
    w = StatusWriter(proj.status_file, run_id=run_id, started_at=started_at, pid=pid or os.getpid())
    w.phase(phase, **more)


def refused_run_b(proj):
    """What a refused `forge train` leaves: a new run id, failed at step 0, the run before it in extra."""
    status(
        proj,
        "run-b",
        "failed",
        error="val.jsonl:1: not JSON",
        error_kind="data",
        previous_run={"run_id": "run-a", "phase": "done", "step": 4, "total_steps": 4},
    )


def items(proj):
    return {i.name: i for i in run_verify(proj).items}


def verify_json(proj, capsys):
    capsys.readouterr()
    code = main(["verify", str(proj.root), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_stats_of_the_last_run_are_judged_as_before(tmp_path, capsys):
    proj = run_a(tmp_path / "p")
    got = items(proj)
    assert got["final loss < 0.5"].status == "ok" and got["loss decreased"].status == "ok"
    assert not any(i.stale for i in got.values())
    code, out = verify_json(proj, capsys)
    assert code == 0 and out["ok"] is True and out["stale"] is False
    every = [i for sec in out["sections"].values() for i in sec]
    assert all(i["stale"] is False for i in every)  # a field added to every item: old keys unchanged
    assert {"section", "name", "status", "detail", "fix"} <= set(every[0])


def test_a_refused_run_makes_the_quality_checks_stale_and_verify_fail(tmp_path, capsys):
    proj = run_a(tmp_path / "p")
    refused_run_b(proj)
    got = items(proj)
    for name in QUALITY:
        item = got[name]
        assert item.status == "fail" and item.stale is True, item
        assert "run-a" in item.detail and "run-b" in item.detail and "failed before training (data)" in item.detail
        assert "forge train" in item.fix
    assert "0.3000 is not the last run's final loss" in got["final loss < 0.5"].detail
    assert "stats of run run-a, the run before it" in got["final loss < 0.5"].detail
    # the required items keep their meaning: the files are there and whole
    for name in ("adapter_config.json", "adapter_model.safetensors", "training-stats.json"):
        assert got[name].status == "ok" and got[name].stale is False
    assert got["no CUDA out-of-memory"].status == "ok" and not got["no CUDA out-of-memory"].stale

    code, out = verify_json(proj, capsys)
    assert code == 1 and out["ok"] is False and out["stale"] is True
    quality = {i["name"]: i for i in out["sections"]["Quality"]}
    assert quality["final loss < 0.5"]["status"] == "fail" and quality["final loss < 0.5"]["stale"] is True

    assert main(["verify", str(proj.root)]) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "final loss < 0.5 (stale)" in text and "quality checks read another run's stats (stale)" in text


def test_verify_says_what_the_web_page_says(tmp_path):
    # one rule: the checklist's reason is the web metrics' metrics_stale_reason, fix apart
    pytest.importorskip("fastapi")
    from forge.check import staleness
    from forge.web import metrics

    assert metrics.training_stats_staleness is staleness.training_stats_staleness
    proj = run_a(tmp_path / "p")
    refused_run_b(proj)
    view = metrics.metrics_view(proj)
    item = items(proj)["final loss < 0.5"]
    assert view["metrics_stale"] is True
    reason, fix = view["metrics_stale_reason"].split("; fix: ")
    assert item.detail == f"stale: 0.3000 is not the last run's final loss: {reason}"
    # the page names the project folder in its hints, absolute (forge.hints); the fix is the same
    assert name_folder(item.fix, proj.root, absolute=True) == fix and "`forge train " in fix


def test_a_run_in_progress_says_wait_and_verify_again(tmp_path):
    proj = run_a(tmp_path / "p")
    status(proj, "run-b", "training", step=2, total_steps=10)
    got = items(proj)
    item = got["final loss < 0.5"]
    assert item.stale and item.status == "fail" and "is training now" in item.detail
    assert "forge status --watch" in item.fix and "forge verify" in item.fix
    assert got["loss decreased"].stale


def test_a_resumed_run_still_training_is_stale_against_its_own_earlier_stats(tmp_path):
    proj = run_a(tmp_path / "p")
    status(proj, "run-a", "training", started_at=A_START, step=5, total_steps=8, resumed_from="checkpoint-4")
    item = items(proj)["final loss < 0.5"]
    assert item.stale and "resumed from checkpoint-4" in item.detail


def test_a_crashed_or_interrupted_new_run(tmp_path):
    proj = run_a(tmp_path / "p")
    StatusWriter(proj.status_file, run_id="run-b", started_at=B_START, pid=DEAD_PID).phase("training", step=3)
    data = json.loads(proj.status_file.read_text())
    data["last_updated"] = "2025-01-02T09:05:00Z"  # long ago, and its writer is gone
    atomic_write_json(proj.status_file, data)
    item = items(proj)["final loss < 0.5"]
    assert item.stale and "crashed" in item.detail and "forge train" in item.fix
    status(proj, "run-b", "interrupted", step=3, total_steps=10)
    item = items(proj)["final loss < 0.5"]
    assert item.stale and "interrupted" in item.detail and "--resume" in item.fix


def test_a_failed_save_of_the_same_run_is_not_stale(tmp_path):
    # the run wrote its stats, then its export failed: the stats are that run's
    proj = run_a(tmp_path / "p")
    status(proj, "run-a", "failed", started_at=A_START, step=4, total_steps=4, error="GGUF export failed")
    got = items(proj)
    assert got["final loss < 0.5"].status == "ok" and not got["final loss < 0.5"].stale


def test_a_bad_loss_of_an_older_run_keeps_its_name_and_is_stale_not_judged(tmp_path):
    proj = run_a(tmp_path / "p", final_loss=1.7)
    refused_run_b(proj)
    item = items(proj)["final loss < 1.0"]
    assert item.stale and item.status == "fail" and "1.7000 is not the last run's" in item.detail


def test_stats_without_a_run_id_are_judged_by_their_times(tmp_path):
    proj = run_a(tmp_path / "p")
    atomic_write_json(proj.training_stats_file, {"final_loss": 0.3, "total_steps": 4, "completed_at": A_DONE})
    refused_run_b(proj)
    item = items(proj)["final loss < 0.5"]
    assert item.stale and f"completed {A_DONE}, before run run-b started ({B_START})" in item.detail
    # the original script's status layout (no run id, no phase), started after the stats
    atomic_write_json(proj.status_file, {"running": False, "step": 0, "total_steps": 4, "started_at": B_START})
    assert items(proj)["final loss < 0.5"].stale


def test_nothing_recorded_to_tell_keeps_the_old_verdicts(tmp_path):
    proj = run_a(tmp_path / "p")
    proj.status_file.unlink()  # no status: whose stats they are is unknown, judged as before
    assert items(proj)["final loss < 0.5"].status == "ok"
    proj.status_file.write_text("{not json")  # an unreadable status says nothing about any run
    assert items(proj)["final loss < 0.5"].status == "ok"
    atomic_write_json(proj.training_stats_file, {"final_loss": 0.3, "total_steps": 4})  # no id, no time
    refused_run_b(proj)
    assert items(proj)["final loss < 0.5"].status == "ok"


def test_the_web_checklist_marks_stale_items(tmp_path):
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from forge.plan.hardware import HardwareInfo
    from forge.web.app import STATIC_DIR, create_app

    proj = run_a(tmp_path / "p")
    refused_run_b(proj)
    hw = HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible (test)")
    client = TestClient(create_app([proj.root], hardware=hw), base_url="http://127.0.0.1:7860")
    out = client.get("/api/projects/0/checklist").json()["outputs"]
    quality = {i["name"]: i for i in out["sections"]["Quality"]}
    assert out["ready"] is False and quality["final loss < 0.5"]["stale"] is True
    assert "run-a" in quality["final loss < 0.5"]["detail"]
    spec = client.get("/openapi.json").json()["components"]["schemas"]["ChecklistItemOut"]["properties"]
    assert "stale" in spec
    js = (STATIC_DIR / "app.js").read_text()
    assert "it.stale" in js and "check-stale" in js  # (tests/browser drives the page itself)


def test_the_rule_loads_without_torch_or_the_web_ui():
    code = (
        "import sys, forge.check.staleness, forge.check.outputs; "
        "bad = [m for m in ('torch', 'transformers', 'fastapi', 'forge.web') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    import forge

    env = {**os.environ, "PYTHONPATH": str(Path(forge.__file__).parents[1])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
