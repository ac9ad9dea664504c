"""Response models of the Forge Web UI's JSON API (they document it in /openapi.json and /docs)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """A document whose known keys are described; keys added later by forge pass through."""

    model_config = ConfigDict(extra="allow")


class ProjectOut(BaseModel):
    id: str = Field(description="Stable id to use in URLs: a slug of the folder name (the index works too).")
    index: int = Field(description="Position on the command line, from 0.")
    name: str = Field(description="The folder's name.")
    path: str = Field(description="The folder's absolute path (shown, never accepted as input).")
    exists: bool = Field(description="Whether the folder exists.")
    phase: str = Field(
        description="Effective phase: the status file's phase, or 'crashed', 'unreadable', or 'idle' without one."
    )
    step: int = 0
    total_steps: int = 0


class StatusOut(_Open):
    """`.factory/training-status.json` (DESIGN.md's contract) plus what the reader derived."""

    running: bool = False
    step: int = 0
    total_steps: int = 0
    epoch: float = 0
    total_epochs: float = 0
    loss: Optional[float] = None
    learning_rate: Optional[float] = None
    eta_seconds: Optional[float] = None
    started_at: Optional[str] = None
    checkpoint_at: Optional[str] = None
    error: Optional[str] = None
    last_updated: Optional[str] = None
    schema_version: int = 1
    run_id: Optional[str] = None
    pid: Optional[int] = None
    process_space: Optional[str] = Field(None, description="Whose pids `pid` is (host and pid namespace).")
    phase: str = Field("idle", description="As written by the trainer.")
    eval_loss: Optional[float] = None
    tokens_per_second: Optional[float] = None
    peak_vram_gb: Optional[float] = None
    backend: Optional[str] = None
    model: Optional[str] = None
    completed_at: Optional[str] = None
    error_kind: Optional[str] = None
    solution: Optional[str] = None
    message: Optional[str] = None
    extra: dict[str, Any] = Field(default_factory=dict)
    exists: bool = Field(False, description="Whether the status file exists (false: no run yet).")
    effective_phase: str = Field(
        "idle",
        description="'crashed' when running is true, last_updated is stale and no live process with the status's "
        "pid holds the project lock; 'unreadable' when the file is not a JSON object; else phase.",
    )
    problems: list[dict[str, Any]] = Field(
        default_factory=list, description="What the reader could not take from the file, each with the fix."
    )
    crashed: bool = False
    pid_alive: Optional[bool] = None
    age_seconds: Optional[float] = Field(None, description="Seconds since last_updated.")
    progress: Optional[float] = Field(None, description="step / total_steps, 0..1.")
    final: bool = Field(
        False, description="done, failed, interrupted, crashed or unreadable: nothing more will change."
    )
    eta_human: str = Field("—", description="eta_seconds, human readable ('1h 02m').")


class HistoryRecord(_Open):
    """One line of `metrics/training-history.jsonl`, as forge.records.train.HistoryRow reads it."""

    step: int
    epoch: Optional[float] = None
    loss: Optional[float] = None
    eval_loss: Optional[float] = None
    learning_rate: Optional[float] = None
    tokens_per_second: Optional[float] = None
    grad_norm: Optional[float] = None
    time: Optional[str] = Field(None, description="When the line was written (UTC, forge.clock's format).")


class HistoryOut(BaseModel):
    generation: int = Field(
        description="Changes when earlier records were replaced (a resumed run, a new file): start over from scratch."
    )
    since: Optional[int] = Field(description="The `since` asked for: records have step > since.")
    total_records: int
    returned: int
    downsampled: bool = Field(description="True when max_points thinned the train points (eval points are all kept).")
    last_step: Optional[int]
    bad_lines: int = Field(description="Lines that were not JSON objects with a step (skipped).")
    records: list[HistoryRecord]


class ChecklistItemOut(_Open):
    section: str = ""
    name: str = ""
    status: str = Field("", description="ok | warn | fail | skip (not checked: never a pass)")
    detail: str = ""
    fix: Optional[str] = None
    stale: bool = Field(
        False,
        description="True when the item's input is another run's (a quality check of the outputs checklist reading "
        "training-stats.json that a refused, failed or still running later run left behind, decided as "
        "metrics_stale is): the item is then failed, not judged, with whose input it is in detail and the fix.",
    )


class ChecklistOut(BaseModel):
    available: bool = Field(description="False when the checklist could not be computed (see reason).")
    reason: Optional[str] = None
    ready: Optional[bool] = None
    sections: dict[str, list[ChecklistItemOut]] = Field(default_factory=dict)
    hardware: Optional[dict[str, Any]] = None
    data: Optional[dict[str, Any]] = None
    checked_at: Optional[str] = None


class ChecklistsOut(BaseModel):
    pre_training: ChecklistOut = Field(description="`forge check`: Data, Hardware, Config, Baseline.")
    outputs: ChecklistOut = Field(description="`forge verify`: required and optional artifacts, quality checks.")


class GateOut(_Open):
    passed: bool
    threshold: Optional[float] = None
    relative_improvement: Optional[float] = Field(None, description="(base - fine-tuned) / base val loss.")


class ComparisonRow(BaseModel):
    """One headline score of metrics/evaluation.json: the base model, the fine-tuned one, the change."""

    metric: str = Field(
        description="val_loss | perplexity | token_f1 | exact_match, and tool_calls.valid_json | "
        "tool_calls.name_match | tool_calls.arguments_match where val holds tool calls"
    )
    label: str = Field("", description="The metric in words ('token F1').")
    baseline: Optional[float] = Field(description="The base model's score (null: not measured).")
    evaluation: Optional[float] = Field(description="The fine-tuned model's score.")
    delta: Optional[float] = Field(description="evaluation - baseline.")
    artifacts: dict[str, Optional[float]] = Field(
        default_factory=dict,
        description="Each other artifact evaluated (merged, gguf:q8_0, ...) -> its score (forge evaluate --artifact).",
    )


class MetricsOut(BaseModel):
    baseline: Optional[dict[str, Any]] = Field(
        description="metrics/baseline.json (forge.records.evaluate.BaselineRecord), or null when missing or refused."
    )
    baseline_stale: Optional[bool] = Field(
        None,
        description="True when `forge evaluate` would refuse baseline.json for the project as it is now: made for "
        "another model, val file (sha256) or scoring settings than training-config.json and the val split hold now "
        "(evaluate's own rule, forge.evaluate.baseline.baseline_refusal). False when it matches; null when unknown "
        "(no baseline, a config that does not load, no val split).",
    )
    baseline_stale_reason: Optional[str] = Field(
        None, description="evaluate's refusal, naming both sides, and the fix (`forge baseline`); null unless stale."
    )
    training_stats: Optional[dict[str, Any]] = Field(
        description="metrics/training-stats.json (forge.records.train.TrainingStats), or null."
    )
    metrics_stale: Optional[bool] = Field(
        None,
        description="True when training-stats.json (and the loss plot written with it) is of another run than the "
        "one the status file describes: a new run in progress, a run that failed or was refused before writing "
        "its own stats, a resumed run still training; decided from the run_id both files record (for files "
        "without one, the stats' completed_at against the run's started_at). False when they are that run's; "
        "null when unknown (no stats, no status, nothing recorded to compare).",
    )
    metrics_stale_reason: Optional[str] = Field(
        None, description="Whose stats these are and what the last run did instead, with the fix; null unless stale."
    )
    evaluation: Optional[dict[str, Any]] = Field(
        description="metrics/evaluation.json (forge.records.evaluate.EvaluationRecord), or null."
    )
    evaluation_stale: Optional[bool] = Field(
        None,
        description="True when evaluation.json scored another adapter than the one saved now (retrained or gone): "
        "its gate verdict is stale; false when it is this adapter's; null when unknown (no fingerprint recorded).",
    )
    gate: Optional[GateOut] = Field(description="The evaluate gate's verdict, once `forge evaluate` ran.")
    gate_note: Optional[str] = Field(
        None,
        description="Before `forge evaluate` ran: what to run next (`forge baseline`, `forge evaluate`, or the stale "
        "baseline's reason), its commands naming the project folder, absolute; the page shows it under the gate "
        "badge. Null once evaluation.json is there.",
    )
    comparison: list[ComparisonRow] = Field(
        description="Val loss, perplexity, token F1 and exact match: base, fine-tuned, change (empty before evaluate)."
    )
    problems: dict[str, str] = Field(description="File name -> why it could not be read, with the fix.")
    loss_plot: Optional[str] = Field(None, description="URL of metrics/loss.png when it exists.")


class ArtifactOut(BaseModel):
    path: str = Field(description="Relative to the project folder.")
    size: int = Field(description="Bytes.")
    size_human: str
    modified: str
    kind: str = Field(description="lora | merged | gguf | quantized | other")


class ArtifactsOut(BaseModel):
    files: list[ArtifactOut]
    total_size: int
    total_human: str
    by_kind: dict[str, int] = Field(description="kind -> bytes.")


class LogOut(BaseModel):
    path: str
    exists: bool
    lines: list[str]


class InfoOut(BaseModel):
    version: str
    read_only: bool = True
    projects: int
    hardware: Optional[dict[str, Any]] = Field(
        None, description="The hardware probed once at start (null while probing)."
    )
