"""metrics/baseline.json and metrics/evaluation.json made by forge's own writers, without a model.

Only the scoring pass is stood in for (ScoreDetail built from numbers): the layout of the files
comes from BaselineRecord.build, forge.evaluate.evaluation.build_evaluation and write_record, the
functions `forge baseline` and `forge evaluate` call, so a reader tested on these files is tested
on what forge writes (a hand-made dict let the web UI's comparison drift from the real layout).
"""

from __future__ import annotations

from forge.evaluate.evaluation import build_evaluation
from forge.project import Project
from forge.records.base import write_record
from forge.records.evaluate import BaselineRecord, EvaluationRecord, Sample, ScoreDetail, ScoredOn, ScoreSettings


def scores(val_loss: float, perplexity: float, token_f1: float | None, exact_match: float | None) -> ScoreDetail:
    sample = Sample(index=0, prompt="Is it on?", reference="Yes.", generated="Yes.", token_f1=1.0, exact_match=1.0)
    return ScoreDetail(
        val_loss=val_loss,
        perplexity=perplexity,
        token_f1=token_f1,
        exact_match=exact_match,
        examples=24,
        examples_scored=24,
        examples_dropped=0,
        examples_truncated=0,
        val_tokens_scored=900,
        generation_samples=1 if token_f1 is not None else 0,
        seconds={"loss": 0.1, "generation": 0.2},
        samples=[sample] if token_f1 is not None else [],
        template="llama",
        device="cpu",
    )


def write_metrics(
    project: Project,
    base: tuple = (2.91, 18.36, 0.14, 0.0),
    tuned: tuple | None = (0.71, 2.03, 0.89, 0.5),
    threshold: float = 0.05,
    model: str = "builtin:tiny-llama",
) -> tuple[BaselineRecord, EvaluationRecord | None]:
    """Write baseline.json (and evaluation.json unless `tuned` is None) as the verbs would."""
    on = ScoredOn(
        model=model,
        val_file="data/splits/val.jsonl",
        val_sha256="ab" * 32,
        examples=24,
        settings=ScoreSettings(max_seq_length=256, generation_samples=1, max_new_tokens=32, chat_template="auto"),
    )
    baseline = BaselineRecord.build(on, scores(*base), created_at="2026-12-01T10:00:00Z")
    write_record(project.baseline_file, baseline)
    if tuned is None:
        return baseline, None
    evaluation = build_evaluation(baseline, scores(*tuned), threshold, adapter="models/checkpoints/lora")
    write_record(project.evaluation_file, evaluation)
    return baseline, evaluation


def stand_in_scoring(monkeypatch, *passes: ScoreDetail) -> None:
    """`forge baseline` and `forge evaluate` score with these, in order, instead of a model pass."""
    import forge.evaluate.baseline as baseline_mod
    import forge.evaluate.evaluation as evaluation_mod

    it = iter(passes)
    monkeypatch.setattr(baseline_mod, "score_with", lambda val, *, adapter=None: next(it))
    monkeypatch.setattr(evaluation_mod, "score_with", lambda val, *, adapter=None: next(it))
