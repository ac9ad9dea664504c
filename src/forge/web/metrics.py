"""The metrics view of a project for the web UI: the three metrics files read as records (torch-free).

    metrics_view(project) -> {baseline, training_stats, evaluation, gate, comparison, problems, loss_plot}

Each file is read through its record (forge.records.evaluate, forge.records.train), so the page
shows what `forge baseline`, `forge train` and `forge evaluate` wrote, never a guess at its shape:
a file that is not the record it should be is left out and named in `problems` with its fix.
The comparison rows come from EvaluationRecord.comparison(): val loss, perplexity, token F1 and
exact match for the base model, the fine-tuned one and the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.project import Project
from forge.records.base import Record, try_read_record
from forge.records.evaluate import BaselineRecord, EvaluationRecord
from forge.records.train import TrainingStats
from forge.web.readers import finite


def _read(path: Path, cls: type[Record], problems: dict[str, str]) -> Record | None:
    record, why = try_read_record(path, cls)
    if why:
        problems[path.name] = why
    return record


def gate_verdict(evaluation: EvaluationRecord | None) -> dict[str, Any] | None:
    """The evaluate gate as the page's badge shows it; None before `forge evaluate` ran."""
    if evaluation is None:
        return None
    return {
        "passed": evaluation.passed,
        "threshold": evaluation.threshold,
        "relative_improvement": evaluation.relative_improvement,
    }


def metrics_view(project: Project, loss_plot_url: str | None = None) -> dict[str, Any]:
    problems: dict[str, str] = {}
    baseline = _read(project.baseline_file, BaselineRecord, problems)
    stats = _read(project.training_stats_file, TrainingStats, problems)
    evaluation = _read(project.evaluation_file, EvaluationRecord, problems)
    return finite(
        {
            "baseline": baseline.to_data() if baseline else None,
            "training_stats": stats.to_data() if stats else None,
            "evaluation": evaluation.to_data() if evaluation else None,
            "gate": gate_verdict(evaluation),
            "comparison": evaluation.comparison() if evaluation else [],
            "problems": problems,
            "loss_plot": loss_plot_url if project.loss_plot_file.is_file() else None,
        }
    )
