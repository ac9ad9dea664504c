"""The demo's steps call the wings and hand back their results (no captured stdout, no parsed JSON)."""

from __future__ import annotations

import json

import pytest

from evaluate_files import scores
from forge.errors import EXIT_GATE, EXIT_OK


@pytest.fixture
def scored(project, monkeypatch):
    """The evaluate wing with its model pass stood in for: baseline 2.0, fine-tuned 1.96 (a 2% drop)."""
    import forge.evaluate.baseline as baseline_mod
    import forge.evaluate.evaluation as evaluation_mod

    results = iter([scores(2.0, 7.39, 0.5, 0.25), scores(1.96, 7.1, 0.5, 0.25)])
    monkeypatch.setattr(baseline_mod, "score_with", lambda val, adapter=None: next(results))
    monkeypatch.setattr(evaluation_mod, "score_with", lambda val, adapter=None: next(results))
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    # a well-formed adapter of that base: evaluate checks the adapter before it scores
    from model_folders import write_adapter

    write_adapter(project.lora_dir, "builtin:tiny-llama")
    return project


def test_baseline_and_a_failed_gate_come_back_as_outcomes(scored, capsys):
    from forge.demo import steps

    base = steps.baseline(scored)
    assert base.code == EXIT_OK and base.detail == "val loss 2.0, token F1 0.5, exact 0.25"
    assert "scores" not in base.data and base.data["val_loss"] == 2.0
    ev = steps.evaluate(scored)  # 2% < the default 5% gate
    assert ev.code == EXIT_GATE and ev.detail.startswith("gate FAIL: val loss 2.0000 -> 1.9600 (+2.0%)")
    assert ev.data["verdict"] == "fail" and "fine_tuned_scores" not in ev.data
    assert ev.result.passed is False
    assert capsys.readouterr().out == ""  # the wings print nothing; the command prints


def test_train_detail_reads_the_stats_record(project):
    from forge.demo.steps import train_detail

    assert train_detail(project) == ""
    project.training_stats_file.write_text(
        json.dumps({"model": "m", "total_steps": 30, "final_loss": 1.23456, "backend": "hf"})
    )
    assert train_detail(project) == "30 steps, final loss 1.2346, hf"
