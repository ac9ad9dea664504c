"""The web UI's training stats are marked when they are another run's (`metrics_stale`).

QA: the page showed metrics/training-stats.json of an older run, unmarked, while a new run
trained, after a run was refused before writing its own, and when the stats predated the status
file's run. Whose stats they are is decided from what the files record: the run id that both
training-stats.json and the status carry, else (files of the original script or an older forge)
the stats' completed_at against the run's started_at; never from file times."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from forge.check.staleness import training_stats_staleness  # noqa: E402
from forge.cli import main  # noqa: E402
from forge.files import atomic_write_json  # noqa: E402
from forge.plan.hardware import HardwareInfo  # noqa: E402
from forge.project import Project  # noqa: E402
from forge.records.base import write_record  # noqa: E402
from forge.records.train import TrainingStats  # noqa: E402
from forge.status import StatusWriter  # noqa: E402
from forge.web.app import create_app  # noqa: E402
from forge.web.metrics import metrics_view  # noqa: E402
from forge.web.readers import status_view  # noqa: E402

HW = HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible (test)")
DEAD_PID = 2**22 + 4321
A_START, A_DONE, B_START = "2025-01-01T10:00:00Z", "2025-01-01T10:30:00Z", "2025-01-02T09:00:00Z"


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project.at(tmp_path / "p")
    for d in ("metrics", ".factory", "logs", "models"):
        (p.root / d).mkdir(parents=True, exist_ok=True)
    return p


def stats_of_run_a(p: Project, **over) -> None:
    """training-stats.json as `forge train` writes it (forge.train.report.build_stats keys)."""
    fields = dict(model="builtin:tiny-llama", final_loss=0.4, total_steps=4, run_id="run-a")
    fields.update(started_at=A_START, completed_at=A_DONE, **over)
    write_record(p.training_stats_file, TrainingStats(**{k: v for k, v in fields.items() if v is not None}))


def status(p: Project, run_id: str | None, phase: str, started_at: str = B_START, pid: int | None = None, **more):
    w = StatusWriter(p.status_file, run_id=run_id, started_at=started_at, pid=pid or os.getpid())
    w.phase(phase, **more)
    return w


def stale(p: Project) -> tuple[bool | None, str | None]:
    m = metrics_view(p)
    return m["metrics_stale"], m["metrics_stale_reason"]


def test_the_stats_of_the_run_in_the_status_are_current(proj):
    stats_of_run_a(proj)
    status(proj, "run-a", "done", started_at=A_START, step=4, total_steps=4)
    assert stale(proj) == (False, None)
    status(proj, "run-a", "exporting", started_at=A_START, step=4, total_steps=4)  # saved, then exporting
    assert stale(proj) == (False, None)
    status(proj, "run-a", "failed", started_at=A_START, step=4, total_steps=4, error="GGUF export failed")
    assert stale(proj) == (False, None)  # the run wrote its stats, then its export failed


def test_a_new_run_in_progress_marks_the_last_runs_stats(proj):
    stats_of_run_a(proj)
    status(proj, "run-b", "training", step=2, total_steps=10)
    is_stale, why = stale(proj)
    assert is_stale is True
    assert "stats of run run-a" in why and A_DONE in why and "current run, run-b" in why and B_START in why
    assert "is training now" in why and "fix:" not in why  # nothing to fix: its stats are on their way


def test_a_refused_run_marks_the_stats_of_the_run_before_it(proj):
    # what a refused `forge train` leaves (forge.train.recipe: the previous run kept in extra)
    stats_of_run_a(proj)
    status(
        proj,
        "run-b",
        "failed",
        error="val.jsonl:1: not JSON",
        error_kind="data",
        previous_run={"run_id": "run-a", "phase": "done", "step": 4, "total_steps": 4},
    )
    is_stale, why = stale(proj)
    assert is_stale is True
    assert "stats of run run-a, the run before it" in why and "last run, run-b" in why
    assert "failed before training (data) and wrote no stats" in why and "fix:" in why and "forge train" in why


def test_a_real_refused_train_leaves_the_old_stats_marked(proj, capsys):
    from model_folders import chat_rows, write_rows

    from forge.init.scaffold import init_project

    p, _ = init_project(proj.root)
    write_rows(p.train_file, chat_rows(20))
    p.val_file.write_text('{"conversations": [}\n')  # refused before any model loads
    stats_of_run_a(p)
    status(p, "run-a", "done", started_at=A_START, step=4, total_steps=4)
    assert stale(p) == (False, None)
    assert main(["train", str(p.root), "--set", "model.name=builtin:tiny-llama"]) == 2
    capsys.readouterr()
    new_run = json.loads(p.status_file.read_text())["run_id"]
    assert new_run and new_run != "run-a"
    is_stale, why = stale(p)
    assert is_stale is True and "run-a" in why and new_run in why and "failed before training" in why


def test_a_resumed_run_still_training_marks_the_stats_it_wrote_before(proj):
    # a resume keeps its run's id and started_at: the same id in a phase before saving has not
    # written its stats yet, so the ones on disk are of the run's earlier end
    stats_of_run_a(proj)
    status(proj, "run-a", "training", started_at=A_START, step=5, total_steps=8, resumed_from="checkpoint-4")
    is_stale, why = stale(proj)
    assert is_stale is True and "resumed from checkpoint-4" in why and "is training now" in why


def test_a_crashed_or_interrupted_new_run(proj):
    stats_of_run_a(proj)
    w = StatusWriter(proj.status_file, run_id="run-b", started_at=B_START, pid=DEAD_PID)
    w.phase("training", step=3, total_steps=10)
    data = json.loads(proj.status_file.read_text())
    data["last_updated"] = "2025-01-02T09:05:00Z"  # long ago: its writer is gone
    atomic_write_json(proj.status_file, data)
    assert status_view(proj)["effective_phase"] == "crashed"
    is_stale, why = stale(proj)
    assert is_stale is True and "crashed" in why and "fix:" in why
    status(proj, "run-b", "interrupted", step=3, total_steps=10)
    is_stale, why = stale(proj)
    assert is_stale is True and "interrupted" in why and "--resume" in why


def test_stats_without_a_run_id_are_judged_by_their_times(proj):
    # the original script's file (and an older forge's): no run_id, but completed_at
    atomic_write_json(proj.training_stats_file, {"model": "m", "final_loss": 0.4, "completed_at": A_DONE})
    status(proj, "run-b", "failed", error="refused", error_kind="data")
    is_stale, why = stale(proj)
    assert is_stale is True and f"completed {A_DONE}, before run run-b started ({B_START})" in why
    status(proj, "run-b", "done", started_at=A_START, step=4, total_steps=4)  # the run that wrote them
    assert stale(proj) == (False, None)
    # the original status layout (no run_id, no phase) against stats with a run id: the times again
    stats_of_run_a(proj)
    atomic_write_json(proj.status_file, {"running": False, "step": 4, "total_steps": 4, "started_at": B_START})
    assert stale(proj)[0] is True


def test_unknown_when_nothing_recorded_can_tell(proj):
    assert stale(proj) == (None, None)  # no stats, no status
    atomic_write_json(proj.training_stats_file, {"model": "m", "final_loss": 0.4})  # no run id, no time
    assert stale(proj) == (None, None)  # no status either
    status(proj, "run-b", "done", step=4, total_steps=4)
    assert stale(proj) == (None, None)  # nothing to compare by
    stats_of_run_a(proj)
    proj.status_file.write_text("{not json")
    assert stale(proj) == (None, None)  # an unreadable status says nothing about any run


def test_the_pure_rule_reads_the_status_view():
    stats = TrainingStats(run_id="a", completed_at=A_DONE)
    view = {"exists": True, "effective_phase": "done", "phase": "done", "run_id": "b", "started_at": B_START}
    assert training_stats_staleness(stats, view)[0] is True
    assert training_stats_staleness(stats, {**view, "run_id": "a"}) == (False, None)
    assert training_stats_staleness(None, view) == (None, None)
    assert training_stats_staleness(stats, {**view, "exists": False}) == (None, None)


def test_the_api_answers_metrics_stale_with_its_reason(proj):
    client = TestClient(create_app([proj.root], hardware=HW), base_url="http://127.0.0.1:7860")
    m = client.get("/api/projects/0/metrics").json()
    assert m["metrics_stale"] is None and m["metrics_stale_reason"] is None
    stats_of_run_a(proj)
    status(proj, "run-b", "training", step=1, total_steps=10)
    m = client.get("/api/projects/0/metrics").json()
    assert m["metrics_stale"] is True and "run-a" in m["metrics_stale_reason"]
    assert m["training_stats"]["run_id"] == "run-a"  # still shown: marked, not hidden
    spec = client.get("/openapi.json").json()["components"]["schemas"]["MetricsOut"]["properties"]
    assert "metrics_stale" in spec and "metrics_stale_reason" in spec


def test_stats_linked_out_of_the_project_say_nothing(proj, tmp_path):
    outside = tmp_path / "elsewhere.json"
    atomic_write_json(outside, TrainingStats(run_id="run-a", completed_at=A_DONE).to_data())
    os.symlink(outside, proj.training_stats_file)
    status(proj, "run-b", "training", step=1, total_steps=10)
    client = TestClient(create_app([proj.root], hardware=HW), base_url="http://127.0.0.1:7860")
    m = client.get("/api/projects/0/metrics").json()
    assert m["training_stats"] is None and m["metrics_stale"] is None and m["metrics_stale_reason"] is None


def test_the_page_marks_stale_stats_and_refetches_on_a_new_run():
    # the page reads metrics_stale (badge + note) and refetches the metrics when the run id changes
    from forge.web.app import STATIC_DIR

    js = (STATIC_DIR / "app.js").read_text()
    html = (STATIC_DIR / "index.html").read_text()
    assert "m.metrics_stale" in js and "metrics_stale_reason" in js
    assert 'data-testid="stats-stale"' in html and 'data-testid="stats-note"' in html
    assert "p.status.run_id !== snap.status.run_id" in js  # (tests/browser drives the page itself)
