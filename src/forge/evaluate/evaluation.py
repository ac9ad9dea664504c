"""`forge evaluate`'s work: score the fine-tuned adapter, compare with the baseline, apply the gate.

It scores the adapter on the same examples with the same settings as the baseline, refuses a
baseline made for another model, val file or settings (it would compare unlike things), and writes
metrics/evaluation.json. `build_evaluation` is the pure part (scores in, record out), so the file
layout can be produced in tests without a model.
"""

from __future__ import annotations

from pathlib import Path

from forge.clock import utcnow
from forge.errors import EXIT_USAGE, ForgeError
from forge.evaluate.baseline import check_baseline, load_val, read_baseline, score_with, scored_on
from forge.evaluate.gate import GENERATION_TOLERANCE, apply_gate
from forge.lock import writes_project
from forge.project import Project
from forge.records.base import try_read_record, write_record
from forge.records.evaluate import BaselineRecord, EvaluationRecord, ScoreDetail, Scores
from forge.records.train import TrainingStats


def build_evaluation(
    baseline: BaselineRecord,
    fine_tuned: ScoreDetail,
    threshold: float,
    *,
    adapter: str | None = None,
    gguf: dict | None = None,
    created_at: str | None = None,
) -> EvaluationRecord:
    """The evaluation record of `fine_tuned` against `baseline` (both scored on the same split)."""
    if threshold < 0:
        raise ForgeError("--threshold must be >= 0", fix="e.g. --threshold 0.05 (5% lower val loss)", exit_code=2)
    base = baseline.headline()
    tuned = Scores(**fine_tuned.headline())
    gate = apply_gate(base.headline(), tuned.headline(), threshold, GENERATION_TOLERANCE)
    return EvaluationRecord(
        created_at=created_at or utcnow(),
        **baseline.scored_on.model_dump(),
        adapter=adapter,
        baseline=base,
        fine_tuned=tuned,
        deltas=gate.deltas,
        relative_improvement=gate.relative_improvement,
        threshold=threshold,
        generation_tolerance=gate.tolerance,
        verdict=gate.verdict,
        passed=gate.passed,
        reasons=gate.reasons,
        checks=gate.notes,
        fine_tuned_scores=fine_tuned,
        gguf=gguf,
    )


@writes_project("evaluate")  # one writer per project (forge.lock)
def compute_evaluation(
    project: Project, threshold: float | None = None, overrides: list[str] | None = None
) -> EvaluationRecord:
    val = load_val(project, overrides)
    now = scored_on(project, val)
    baseline = read_baseline(project)
    check_baseline(baseline, now, project.baseline_file)
    cfg = val.cfg
    adapter = project.path(cfg.save.lora_path)
    if not (adapter / "adapter_config.json").exists():
        raise ForgeError(
            f"no LoRA adapter at {adapter} (adapter_config.json missing)",
            fix="run `forge train` first",
            exit_code=EXIT_USAGE,
        )
    trained_on = _trained_model(project)
    if trained_on and trained_on != cfg.model.name:
        raise ForgeError(
            f"the adapter in {adapter} was trained on {trained_on!r}, but model.name is {cfg.model.name!r}",
            fix="set model.name back, or run `forge train` and `forge baseline` for the new model",
            exit_code=EXIT_USAGE,
            kind="baseline_mismatch",
        )
    thr = cfg.evaluation.gate_threshold if threshold is None else threshold
    if thr < 0:  # before the model loads: a typo should not cost a scoring pass
        raise ForgeError("--threshold must be >= 0", fix="e.g. --threshold 0.05 (5% lower val loss)", exit_code=2)
    fine_tuned = score_with(val, adapter=adapter)
    record = build_evaluation(
        baseline,
        fine_tuned,
        thr,
        adapter=str(adapter.relative_to(project.root)) if adapter.is_relative_to(project.root) else str(adapter),
        gguf=_gguf_note(project),
    )
    write_record(project.evaluation_file, record)
    return record


def _trained_model(project: Project) -> str | None:
    """The model the adapter was trained on, from training-stats.json (None when it cannot say)."""
    stats, _ = try_read_record(project.training_stats_file, TrainingStats)
    return stats.model if stats is not None else None


def _gguf_note(project: Project) -> dict | None:
    """Optional: note a GGUF export when one exists; scoring it needs llama-cpp-python."""
    folder: Path = project.quantized_dir
    files = sorted(folder.glob("*.gguf")) if folder.exists() else []
    if not files:
        return None
    from importlib.util import find_spec

    if find_spec("llama_cpp") is None:
        return {"file": files[0].name, "scored": False, "note": "llama-cpp-python is not installed; GGUF not scored"}
    return {"file": files[0].name, "scored": False, "note": "GGUF scoring is not implemented yet"}
