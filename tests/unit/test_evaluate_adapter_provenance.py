"""`forge evaluate` records whose adapter it scored and says so when a later run did not replace it
(QA: after `forge train --force` was interrupted, evaluate scored the previous run's adapter and
reported the gate without a word; evaluation.json named no run)."""

from __future__ import annotations

from finished_run import RUN_ID, make_finished

from forge.check.staleness import adapter_provenance
from forge.status import StatusWriter


def test_the_finished_runs_adapter_has_no_note(tmp_path):
    proj = make_finished(tmp_path / "p")
    assert adapter_provenance(proj) == (RUN_ID, None)


def test_an_interrupted_later_run_is_named_with_the_fix(tmp_path):
    proj = make_finished(tmp_path / "p")
    st = StatusWriter(proj.status_file, run_id="r-new", started_at="2026-12-01T11:00:00Z")
    st.phase("interrupted", step=3, total_steps=200)
    run, note = adapter_provenance(proj)
    assert run == RUN_ID
    assert note.startswith(f"the adapter scored is run {RUN_ID}'s, not the latest run's")
    assert "r-new" in note and "interrupted" in note and "--resume" in note


def test_no_stats_no_claim(tmp_path):
    proj = make_finished(tmp_path / "p")
    proj.training_stats_file.unlink()
    assert adapter_provenance(proj) == (None, None)


def test_export_says_the_same_in_its_report(tmp_path, monkeypatch):
    from forge.config import load_config
    from forge.export import pipeline

    proj = make_finished(tmp_path / "p")
    StatusWriter(proj.status_file, run_id="r-new", started_at="2026-12-01T11:00:00Z").phase("failed", step=1)
    monkeypatch.setattr(pipeline, "STEPS", [])  # the note comes before any step: no model needed
    said = []
    report = pipeline.export_project(proj, load_config(proj.config_file), False, [], progress=said.append)
    assert any(n.startswith(f"the adapter exported is run {RUN_ID}'s") and "r-new" in n for n in report.notes)
    assert any("the adapter exported" in m for m in said)
