"""The files `forge baseline` and `forge evaluate` write for others to read (torch-free).

    metrics/baseline.json     BaselineRecord: the base model's scores and what they were scored on
    metrics/evaluation.json   EvaluationRecord: base and fine-tuned scores, the changes, the gate

Both keep every key forge wrote before records existed (those files already carried
`schema_version: 1`, so they read unchanged). A file without `schema_version` (version 0: a
hand-made file, or one another tool wrote) is read when it holds what a comparison needs (the
model, the val file's sha256, the val loss) and refused otherwise, with the fix to rerun the verb.
`comparison()` is the one place that turns an evaluation into the "base / fine-tuned / change"
rows that `forge evaluate`, the web UI and the demo show.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forge.records.base import Record
from forge.records.evaluate_artifacts import ArtifactRow

# the headline scores, in the order every table shows them, with the words a person reads
HEADLINE: tuple[tuple[str, str], ...] = (
    ("val_loss", "val loss"),
    ("perplexity", "perplexity"),
    ("token_f1", "token F1"),
    ("exact_match", "exact match"),
)
HEADLINE_KEYS = tuple(k for k, _ in HEADLINE)
# the tool-call scores (forge.evaluate.toolcalls), shown beside token F1 where val holds tool calls
TOOL_CALL_SCORES: tuple[tuple[str, str], ...] = (
    ("valid_json", "tool call: valid JSON"),
    ("name_match", "tool call: function name"),
    ("arguments_match", "tool call: arguments exact"),
)
# settings that must be equal for two score sets to be comparable: what the examples are cut to,
# what is generated, the template, and how the weights are loaded (a bf16 or 4-bit pass scores
# differently from a float32 one, so gating one against the other measures the precision, not
# the training)
COMPARED_SETTINGS = (
    "max_seq_length",
    "generation_samples",
    "max_new_tokens",
    "chat_template",
    "dtype",
    "load_in_4bit",
    "load_in_fp8",
)


def _finite(v: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN; the gate reads None as unusable)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class _Open(BaseModel):
    # keys a newer forge adds are kept, so an older reader neither fails nor drops them on rewrite
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Scores(_Open):
    """The four headline scores of one model (None: not measured, e.g. no generation samples)."""

    val_loss: float | None = None
    perplexity: float | None = None
    token_f1: float | None = None
    exact_match: float | None = None

    @field_validator(*HEADLINE_KEYS, mode="before")
    @classmethod
    def _no_nan(cls, v: Any) -> Any:
        return _finite(v)

    def headline(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in HEADLINE_KEYS}


class Sample(_Open):
    """One greedy answer of the generation sample, scored against the val split's reference."""

    index: int
    prompt: str
    reference: str
    generated: str
    token_f1: float
    exact_match: float


def headline_sample(samples: list[Sample]) -> tuple[Sample | None, str]:
    """The sample a summary shows, and what to call it: the first exact answer ("right"), else the
    closest one, said plainly to be wrong. Showing the first sample, right or not, read as "this is
    what the model answers" beside a reference it did not match."""
    if not samples:
        return None, ""
    exact = [s for s in samples if s.exact_match >= 1.0]
    n = len(samples)
    if exact:
        return exact[0], f"right: exact match ({len(exact)} of {n} sampled answers exact)"
    best = max(samples, key=lambda s: s.token_f1)
    return best, f"wrong: token F1 {best.token_f1:.2f}, the closest of {n} sampled answers; none exact"


class ScoreDetail(Scores):
    """Everything one scoring pass measured (forge.evaluate.score.score_model, plus the template)."""

    examples: int | None = None
    examples_scored: int | None = None
    examples_dropped: int | None = None
    examples_truncated: int | None = None
    val_tokens_scored: int | None = None
    generation_samples: int | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    samples: list[Sample] = Field(default_factory=list)
    template: str | None = None
    device: str | None = None
    # the precision the weights were scored in, as loaded ("float32", "bfloat16", "nf4/bfloat16"):
    # model.dtype null means "the device's default", so only the loaded model can say
    precision: str | None = None
    # tokens the loss pass ran the model over (prompts included), for seconds per 1,000 val tokens
    val_tokens_total: int | None = None
    # where the generation sample's references are tool calls: forge.evaluate.toolcalls' scores
    tool_calls: dict[str, Any] | None = None
    tool_call_samples: list[dict[str, Any]] = Field(default_factory=list)  # their answers, scored one by one


class ScoreSettings(_Open):
    """The settings a score set was measured with. A key an older file lacks is unknown, not null:
    readers compare only the keys a file sets (model_dump(exclude_unset=True))."""

    max_seq_length: int | None = None
    generation_samples: int | None = None
    max_new_tokens: int | None = None
    chat_template: str | None = None
    dtype: str | None = None  # model.dtype (null: the device's default)
    load_in_4bit: bool | None = None
    load_in_fp8: bool | None = None


class ScoredOn(_Open):
    """What makes two score sets comparable: the same model, val file and settings."""

    model: str
    val_file: str | None = None
    val_sha256: str
    examples: int | None = None
    settings: ScoreSettings = Field(default_factory=ScoreSettings)


class _ScoreRecord(Record):
    created_at: str | None = None
    model: str
    val_file: str | None = None
    val_sha256: str
    examples: int | None = None
    settings: ScoreSettings = Field(default_factory=ScoreSettings)

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        # version 0: no schema_version (hand-made, or another tool's file). Read it when it has
        # what a comparison needs; validation names the missing key and the fix otherwise.
        return data if version == 0 else super()._migrate(data, version)

    @property
    def scored_on(self) -> ScoredOn:
        return ScoredOn(
            model=self.model,
            val_file=self.val_file,
            val_sha256=self.val_sha256,
            examples=self.examples,
            settings=self.settings,
        )


class BaselineRecord(_ScoreRecord):
    """metrics/baseline.json: the headline scores at the top level, the whole pass under `scores`."""

    REMAKE: ClassVar[str] = "rerun `forge baseline` (it rescores the base model on the val split)"

    kind: Literal["baseline"] = "baseline"
    val_loss: float | None
    perplexity: float | None = None
    token_f1: float | None = None
    exact_match: float | None = None
    scores: ScoreDetail = Field(default_factory=ScoreDetail)

    @field_validator(*HEADLINE_KEYS, mode="before")
    @classmethod
    def _no_nan(cls, v: Any) -> Any:
        return _finite(v)

    @classmethod
    def build(cls, scored_on: ScoredOn, scores: ScoreDetail, created_at: str) -> BaselineRecord:
        return cls(created_at=created_at, **scored_on.model_dump(), **scores.headline(), scores=scores)

    def headline(self) -> Scores:
        return Scores(**{k: getattr(self, k) for k in HEADLINE_KEYS})

    def summary(self) -> dict:
        """The record without the per-sample detail (`forge baseline --json`, the demo's answer)."""
        return {k: v for k, v in self.to_data().items() if k != "scores"}


class EvaluationRecord(_ScoreRecord):
    """metrics/evaluation.json: base and fine-tuned scores, their changes and the gate's verdict.

    Schema version 2 adds `artifacts`: one row per artifact evaluated (forge.records.
    evaluate_artifacts), the adapter's first, each with its own gate; `passed` and `verdict` are then
    every row's. The top-level keys stay the adapter's, as version 1 wrote them, so older readers
    read on; a version 1 file reads with its adapter as the one row (`rows()`).
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    REMAKE: ClassVar[str] = "rerun `forge evaluate` (it scores the adapter against metrics/baseline.json)"

    kind: Literal["evaluation"] = "evaluation"
    adapter: str | None = None
    # forge.check.artifacts.adapter_fingerprint of the adapter scored (None in files of an older
    # forge): what tells readers that the adapter has been retrained since
    adapter_fingerprint: dict[str, str] | None = None
    # the run that saved the adapter (training-stats.json's run_id), and, where a later run was
    # started and did not finish (interrupted, failed, crashed, still going), what that means: the
    # adapter scored is the older run's (forge.check.staleness)
    adapter_run_id: str | None = None
    adapter_note: str | None = None
    baseline: Scores
    fine_tuned: Scores
    deltas: dict[str, float | None] = Field(default_factory=dict)
    relative_improvement: float | None = None
    threshold: float
    generation_tolerance: float | None = None
    verdict: Literal["pass", "fail"]
    passed: bool
    reasons: list[str] = Field(default_factory=list)  # why the gate failed (empty when it passed)
    checks: list[str] = Field(default_factory=list)  # what the gate checked and found fine
    fine_tuned_scores: ScoreDetail = Field(default_factory=ScoreDetail)
    baseline_tool_calls: dict[str, Any] | None = None  # the baseline's tool-call scores, where it has them
    gguf: dict[str, Any] | None = None  # written only when a GGUF export exists
    artifacts: list[ArtifactRow] = Field(default_factory=list)

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        # 0: no schema_version (read when it has what a comparison needs); 1: no artifact rows
        return data if version in (0, 1, cls.SCHEMA_VERSION) else None

    def adapter_gone_or_changed(self, current: dict | None, where: str) -> tuple[str, str] | None:
        """(why, fix) where this record's scores and verdict are not of the adapter saved now, else
        None: the one rule the gate's verdict (verify, export) and the web page's badge apply.
        `current`: the adapter's fingerprint now (None: no complete adapter in `where`). None too
        where the record holds no fingerprint (an older forge's file): then nobody can say."""
        scored = (self.adapter_fingerprint or {}).get("sha256")
        if not scored:
            return None
        when = self.created_at or "?"
        if current is None:
            return (
                f"scored adapter {scored[:12]} on {when}, but there is no complete adapter in {where} now: "
                f"its scores and gate verdict ({self.verdict}) are of an adapter that is gone",
                "run `forge train`, then `forge evaluate`",
            )
        if current.get("sha256") != scored:
            return (
                f"scored adapter {scored[:12]} on {when}; the adapter now is {current.get('sha256', '?')[:12]} "
                f"(trained since): its scores and gate verdict ({self.verdict}) are of the old adapter",
                "run `forge evaluate` to score the adapter saved now (and gate it)",
            )
        return None

    def rows(self) -> list[ArtifactRow]:
        """One row per artifact evaluated; a version 1 file's adapter as its one row."""
        if self.artifacts:
            return list(self.artifacts)
        return [
            ArtifactRow(
                artifact="adapter",
                kind="adapter",
                path=self.adapter,
                adapter_sha256=(self.adapter_fingerprint or {}).get("sha256"),
                scores=self.fine_tuned.headline(),
                deltas=self.deltas,
                relative_improvement=self.relative_improvement,
                gain_lost=0.0,
                passed=self.passed,
                verdict=self.verdict,
                reasons=self.reasons,
                checks=self.checks,
                tool_calls=self.fine_tuned_scores.tool_calls,
            )
        ]

    def row(self, artifact: str) -> ArtifactRow | None:
        return next((r for r in self.rows() if r.artifact == artifact), None)

    def to_data(self) -> dict:
        data = super().to_data()
        if data.get("gguf") is None:
            data.pop("gguf", None)
        return data

    def summary(self) -> dict:
        """The record without the per-sample detail (`forge evaluate --json`, the demo)."""
        data = {k: v for k, v in self.to_data().items() if k != "fine_tuned_scores"}
        data["artifacts"] = [r.summary() for r in self.artifacts]
        return data

    def comparison(self) -> list[dict[str, Any]]:
        """The headline metrics: base, fine-tuned (the adapter) and the change, plus, under
        `artifacts`, each other artifact's value (the web UI's and the CLI's column per artifact);
        the tool-call scores follow where the val split's sample holds tool calls. None: not measured."""
        base, tuned = self.baseline.headline(), self.fine_tuned.headline()
        others = [r for r in self.rows() if r.artifact != "adapter"]
        rows = []
        for key, label in HEADLINE:
            b, f = base[key], tuned[key]
            delta = self.deltas.get(key)
            if delta is None and b is not None and f is not None:
                delta = round(f - b, 6)
            rows.append(
                {
                    "metric": key,
                    "label": label,
                    "baseline": b,
                    "evaluation": f,
                    "delta": delta,
                    "artifacts": {r.artifact: r.scores.get(key) for r in others},
                }
            )
        adapter_calls = self.fine_tuned_scores.tool_calls or {}
        if adapter_calls or any(r.tool_calls for r in others):
            base_calls = self.baseline_tool_calls or {}
            for key, label in TOOL_CALL_SCORES:
                b, f = base_calls.get(key), adapter_calls.get(key)
                rows.append(
                    {
                        "metric": f"tool_calls.{key}",
                        "label": label,
                        "baseline": b,
                        "evaluation": f,
                        "delta": round(f - b, 6) if b is not None and f is not None else None,
                        "artifacts": {r.artifact: (r.tool_calls or {}).get(key) for r in others},
                    }
                )
        return rows

    def artifact_verdicts(self) -> dict[str, str]:
        """Each non-adapter artifact's gate verdict, for the table's last row."""
        return {r.artifact: r.verdict for r in self.rows() if r.artifact != "adapter"}
