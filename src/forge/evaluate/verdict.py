"""The quality verdict of the adapter saved now: the evaluate gate's, read from metrics/evaluation.json.

There is one verdict, the gate's (forge.evaluate.gate: the fine-tuned val loss against the
baseline's on the same val split, generation scores that did not fall). `forge verify` shows it
and is not ready without a pass; `forge export` says when it exports an adapter that failed it.
The original checklist's "final loss below 1.0 (ideally 0.5)" is advice beside it, not a second
verdict: a loss's scale depends on the data (an alpaca set of free-form answers ends near 1.8 on a
model that the gate rightly passes), while the gate compares like with like.

`gate_verdict` is the one reader: whoever adds a verdict (a GGUF or merged artifact's own gate
rows in evaluation.json) extends it here, and verify and export follow. Torch-free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from forge.project import Project
from forge.records.base import try_read_record
from forge.records.evaluate import EvaluationRecord

PASSED, FAILED, MISSING, STALE, UNREADABLE = "pass", "fail", "missing", "stale", "unreadable"


@dataclass
class GateVerdict:
    """`state`: pass | fail | missing (no evaluation.json) | stale (it scored another adapter) |
    unreadable. Only a pass makes the outputs ready."""

    state: str
    detail: str
    fix: str | None = None
    threshold: float | None = None
    relative_improvement: float | None = None
    reasons: list[str] = field(default_factory=list)
    evaluated_at: str | None = None

    @property
    def passed(self) -> bool:
        return self.state == PASSED

    @property
    def failed(self) -> bool:
        """The gate judged this adapter and failed it (not: it has not judged it)."""
        return self.state == FAILED

    def to_dict(self) -> dict:
        return {"passed": self.passed, **asdict(self)}


def gate_verdict(project: Project, lora_dir: Path) -> GateVerdict:
    """The gate's verdict on the adapter in `lora_dir` (the config's save.lora_path)."""
    from forge.check.artifacts import adapter_fingerprint

    rel = project.rel(project.evaluation_file)
    evaluate = "run `forge evaluate` (it scores the adapter against metrics/baseline.json and applies the gate)"
    if not project.evaluation_file.exists():
        before = "" if project.baseline_file.exists() else "`forge baseline`, then "
        return GateVerdict(
            MISSING,
            f"no {rel}: the evaluate gate has not judged this adapter",
            f"run {before}`forge evaluate`" if before else evaluate,
        )
    record, refused = try_read_record(project.evaluation_file, EvaluationRecord)
    if record is None:
        return GateVerdict(UNREADABLE, f"{rel}: {refused}", evaluate)
    stale = record.adapter_gone_or_changed(adapter_fingerprint(lora_dir), project.rel(lora_dir))
    if stale:
        return GateVerdict(STALE, f"{rel} {stale[0]}", stale[1], evaluated_at=record.created_at)
    common = dict(
        threshold=record.threshold,
        relative_improvement=record.relative_improvement,
        reasons=list(record.reasons),
        evaluated_at=record.created_at,
    )
    if record.passed:
        return GateVerdict(PASSED, "; ".join(record.checks) or "passed", **common)
    return GateVerdict(
        FAILED,
        "; ".join(record.reasons) or "failed",
        "train longer or on more data, check the data and chat template, then `forge evaluate` again",
        **common,
    )
