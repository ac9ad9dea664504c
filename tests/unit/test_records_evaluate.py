"""metrics/baseline.json and metrics/evaluation.json as records: written 0644, read back, old files."""

from __future__ import annotations

import json
import stat

import pytest
from model_folders import write_adapter

from evaluate_files import scores, write_metrics
from forge.records.base import RecordError, read_record
from forge.records.evaluate import BaselineRecord, EvaluationRecord


@pytest.fixture
def fake_scoring(project, monkeypatch):
    """compute_baseline / compute_evaluation with the model pass stood in for (everything else real)."""
    import forge.evaluate.baseline as baseline_mod
    import forge.evaluate.evaluation as evaluation_mod

    results = iter([scores(2.0, 7.39, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0)])

    def score_with(val, *, adapter=None):
        return next(results)

    monkeypatch.setattr(baseline_mod, "score_with", score_with)
    monkeypatch.setattr(evaluation_mod, "score_with", score_with)
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    write_adapter(project.lora_dir, "builtin:tiny-llama")  # evaluate checks the adapter's files and base
    return project


def test_baseline_and_evaluation_files_are_0644_and_read_back(fake_scoring):
    from forge.evaluate.baseline import compute_baseline
    from forge.evaluate.evaluation import compute_evaluation

    project = fake_scoring
    base = compute_baseline(project)
    ev = compute_evaluation(project, threshold=0.1)
    for f in (project.baseline_file, project.evaluation_file):
        # the old writer (mkstemp + os.replace) left these at 0600: other tools could not read them
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    assert read_record(project.baseline_file, BaselineRecord) == base
    assert read_record(project.evaluation_file, EvaluationRecord).passed is True
    data = json.loads(project.evaluation_file.read_text())
    # every key forge wrote before records existed is still there
    assert set(data) >= {
        "schema_version", "kind", "created_at", "model", "val_file", "val_sha256", "examples", "settings",
        "adapter", "baseline", "fine_tuned", "deltas", "relative_improvement", "threshold",
        "generation_tolerance", "verdict", "passed", "reasons", "checks", "fine_tuned_scores",
    }  # fmt: skip
    assert "gguf" not in data and data["created_at"].endswith("Z")
    assert data["deltas"]["val_loss"] == pytest.approx(-0.5) and ev.relative_improvement == pytest.approx(0.25)


def test_comparison_rows_are_the_four_scores(project):
    _, ev = write_metrics(project)
    rows = read_record(project.evaluation_file, EvaluationRecord).comparison()
    assert [r["metric"] for r in rows] == ["val_loss", "perplexity", "token_f1", "exact_match"]
    by = {r["metric"]: r for r in rows}
    assert by["val_loss"]["baseline"] == 2.91 and by["val_loss"]["evaluation"] == 0.71
    assert by["val_loss"]["delta"] == pytest.approx(-2.2) and by["exact_match"]["delta"] == pytest.approx(0.5)
    assert by["token_f1"]["label"] == "token F1"


def test_file_of_the_previous_forge_reads(project):
    """The layout commands/evaluate.py wrote before records (schema_version 1, NaN as a float)."""
    old = {
        "schema_version": 1, "kind": "baseline", "created_at": "2026-11-20T10:00:00Z",
        "model": "builtin:tiny-llama", "val_file": "data/splits/val.jsonl", "val_sha256": "c" * 64,
        "examples": 12, "settings": {"max_seq_length": 64, "generation_samples": 0, "max_new_tokens": 8,
                                     "chat_template": "tokenizer"},
        "val_loss": 3.2, "perplexity": 24.5, "token_f1": None, "exact_match": None,
        "scores": {"examples": 12, "val_loss": 3.2, "samples": [], "seconds": {"loss": 0.1}, "new_key": 1},
    }  # fmt: skip
    project.baseline_file.write_text(json.dumps(old))
    rec = read_record(project.baseline_file, BaselineRecord)
    assert rec.val_loss == 3.2 and rec.settings.chat_template == "tokenizer"
    assert rec.to_data()["scores"]["new_key"] == 1  # unknown keys survive a rewrite


def test_file_without_schema_version_needs_what_a_comparison_needs(project):
    project.baseline_file.write_text(json.dumps({"model": "m", "val_sha256": "a" * 64, "val_loss": 2.0}))
    assert read_record(project.baseline_file, BaselineRecord).val_loss == 2.0
    project.baseline_file.write_text(json.dumps({"val_loss": 2.0, "perplexity": 7.4}))
    with pytest.raises(RecordError) as e:
        read_record(project.baseline_file, BaselineRecord)
    assert "baseline.json" in e.value.message and "model" in e.value.message
    assert "forge baseline" in e.value.fix
    project.evaluation_file.write_text(json.dumps({"val_loss": 1.0, "gate": "pass"}))
    with pytest.raises(RecordError) as e:
        read_record(project.evaluation_file, EvaluationRecord)
    assert "forge evaluate" in e.value.fix


def test_newer_file_is_refused_with_the_fix(project):
    write_metrics(project)
    data = json.loads(project.evaluation_file.read_text())
    project.evaluation_file.write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(RecordError) as e:
        read_record(project.evaluation_file, EvaluationRecord)
    assert "newer forge" in e.value.message


def test_unreadable_baseline_is_not_ready_naming_the_fix(project, capsys):
    from forge.cli import main

    project.baseline_file.write_text(json.dumps({"val_loss": 2.0}))
    assert main(["evaluate", str(project.root)]) == 1  # a damaged output of `forge baseline`: not ready
    err = capsys.readouterr().err.replace("\n", "")  # the console wraps long paths
    assert "baseline.json: model" in err and "forge baseline" in err and "Traceback" not in err
