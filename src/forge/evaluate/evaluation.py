"""`forge evaluate`'s work: score the fine-tuned adapter, compare with the baseline, apply the gate.

It scores the adapter on the same examples with the same settings as the baseline, refuses a
baseline made for another model, val file, settings or precision and an adapter that is damaged
or was trained on another base (either would compare unlike things), and writes
metrics/evaluation.json with the fingerprint of the adapter it scored. `build_evaluation` is the pure part (scores in, record out), so the file
layout can be produced in tests without a model.
"""

from __future__ import annotations

from pathlib import Path

from forge.clock import utcnow
from forge.evaluate.adapter import check_adapter
from forge.evaluate.baseline import check_baseline, load_val, score_with, scored_on, usable_baseline
from forge.evaluate.gate import GENERATION_TOLERANCE, apply_gate, check_threshold
from forge.hints import name_folder
from forge.lock import writes_project
from forge.project import Project
from forge.records.base import write_record
from forge.records.evaluate import BaselineRecord, EvaluationRecord, ScoreDetail, ScoredOn, Scores
from forge.runs_log import records_run


def build_evaluation(
    baseline: BaselineRecord,
    fine_tuned: ScoreDetail,
    threshold: float,
    *,
    adapter: str | None = None,
    adapter_fingerprint: dict | None = None,
    scored: ScoredOn | None = None,
    gguf: dict | None = None,
    created_at: str | None = None,
    root: Path | None = None,
) -> EvaluationRecord:
    """The evaluation record of `fine_tuned` against `baseline` (both scored on the same split).

    `scored`: what the fine-tuned pass was scored on (default: the baseline's identity). The two
    agree on every key baseline_refusal compares; a key an older baseline lacks is known only here.
    `root`: the project folder the reasons' command hints name, absolute (forge.hints: the file is
    read from anywhere, the web UI and agents included).
    """
    check_threshold(threshold)
    base = baseline.headline()
    tuned = Scores(**fine_tuned.headline())
    gate = apply_gate(base.headline(), tuned.headline(), threshold, GENERATION_TOLERANCE)
    return EvaluationRecord(
        created_at=created_at or utcnow(),
        **(scored or baseline.scored_on).model_dump(),
        adapter=adapter,
        adapter_fingerprint=adapter_fingerprint,
        baseline=base,
        fine_tuned=tuned,
        deltas=gate.deltas,
        relative_improvement=gate.relative_improvement,
        threshold=threshold,
        generation_tolerance=gate.tolerance,
        verdict=gate.verdict,
        passed=gate.passed,
        reasons=[name_folder(r, root, absolute=True) for r in gate.reasons],
        checks=gate.notes,
        fine_tuned_scores=fine_tuned,
        gguf=gguf,
    )


def expected_precision(cfg) -> str | None:
    """What the weights will load in here (forge.models.precision), before they load: as check tells
    it for its machine, so the refusal before loading judges the load, not the flags behind it."""
    import torch

    from forge.models.precision import load_precision

    cuda = torch.cuda.is_available()
    return load_precision(cfg.model, cuda=cuda, bf16=cuda and torch.cuda.is_bf16_supported())


@writes_project("evaluate")  # one writer per project (forge.lock)
@records_run("evaluate", lambda r: {"adapter_run_id": r.adapter_run_id, "passed": r.passed})  # metrics/runs.jsonl
def compute_evaluation(
    project: Project,
    threshold: float | None = None,
    overrides: list[str] | None = None,
    *,
    cfg=None,
    config_name: str | None = None,
) -> EvaluationRecord:
    """`cfg`: the config the verb read (forge.config.verb_config); else training-config.json + `overrides`.
    `config_name`: how errors name that config (forge.config.verb_config.ConfigSource.name)."""
    # every refusal comes before the model loads: a typo should not cost a scoring pass
    val = load_val(project, overrides, cfg)
    cfg = val.cfg
    if threshold is None:
        if config_name is None:
            config_name = project.rel(project.config_file) + (" + --set" if overrides else "")
        thr = check_threshold(cfg.evaluation.gate_threshold, f"evaluation.gate_threshold in {config_name}")
    else:
        thr = check_threshold(threshold)
    now = scored_on(project, val)
    # the rule forge check and the web UI apply too, with the precision this machine will load in
    baseline = usable_baseline(project, cfg, now=now, precision=expected_precision(cfg))
    adapter = project.outputs(cfg).lora
    fingerprint = check_adapter(project, adapter, cfg.model.name)
    fine_tuned = score_with(val, adapter=adapter)
    # the precision only the loaded model can tell (model.dtype null: the device's default)
    check_baseline(baseline, now, project.baseline_file, precision=fine_tuned.precision)
    record = build_evaluation(
        baseline,
        fine_tuned,
        thr,
        adapter=project.rel(adapter),
        adapter_fingerprint=fingerprint,
        scored=now,
        gguf=_gguf_note(project.outputs(cfg).gguf),
        root=project.root,
    )
    from forge.check.staleness import adapter_provenance

    record.adapter_run_id, record.adapter_note = adapter_provenance(project)
    write_record(project.evaluation_file, record)
    return record


def _gguf_note(folder: Path) -> dict | None:
    """Optional: note a GGUF export in the config's GGUF folder when one exists; scoring it needs llama-cpp-python."""
    files = sorted(folder.glob("*.gguf")) if folder.exists() else []
    if not files:
        return None
    from importlib.util import find_spec

    if find_spec("llama_cpp") is None:
        return {"file": files[0].name, "scored": False, "note": "llama-cpp-python is not installed; GGUF not scored"}
    return {"file": files[0].name, "scored": False, "note": "GGUF scoring is not implemented yet"}
