"""The files `forge train` writes for others to read (torch-free).

    metrics/training-history.jsonl   HistoryRow, one JSON object a line (train rows and eval rows)
    metrics/training-stats.json      TrainingStats, the final numbers of a run
    outputs/forge-run.json           RunFile, the resolved config and fingerprint beside the checkpoints

`read_history` is the one parser of the history: the recipe, the plot, `forge verify`, `forge
status` and the web UI all read rows through it (or, reading incrementally, through
`parse_history_line`). Files written before records existed carry no `schema_version`: they are
version 0 and read through `_migrate` (the history's older spellings such as `lr` or `train_loss`
are mapped onto today's keys).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

from pydantic import field_validator

from forge.files import atomic_write_text
from forge.records.base import Record, RecordError

# spellings older writers (and other trainers) used for the history's keys, oldest layout = 0
_HISTORY_ALIASES = {
    "step": ("global_step",),
    "loss": ("train_loss",),
    "eval_loss": ("val_loss",),
    "learning_rate": ("lr",),
    "tokens_per_second": ("tokens/s", "tokens_per_sec", "train_tokens_per_second"),
}
_NUMBERS = ("epoch", "loss", "eval_loss", "learning_rate", "tokens_per_second", "grad_norm")


def _finite(value: Any) -> float | None:
    """A history number, or None: a torn or foreign value must not break a reader's arithmetic."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class HistoryRow(Record):
    """One line of metrics/training-history.jsonl.

    A train row has `loss` (and `learning_rate`, `tokens_per_second`, `grad_norm`) with
    `eval_loss` null; an eval row has `eval_loss` with `loss` null. `time` is forge.clock's format.
    """

    REMAKE: ClassVar[str] = "rerun `forge train` (the history is rewritten by a fresh run)"

    step: int
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_second: float | None = None
    grad_norm: float | None = None
    time: str | None = None

    @field_validator(*_NUMBERS, mode="before")
    @classmethod
    def _number(cls, v: Any) -> float | None:
        return _finite(v)

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        if version == 0:  # forge before records, or another trainer's log: map the old spellings
            for key, names in _HISTORY_ALIASES.items():
                if data.get(key) is None:
                    for name in names:
                        if data.get(name) is not None:
                            data[key] = data[name]
                            break
            if not isinstance(data.get("time"), (str, type(None))):
                data["elapsed"] = data.pop("time")  # another trainer's seconds, kept beside; `time` is a clock string
            step = data.get("step")
            if isinstance(step, float) and step.is_integer():
                data["step"] = int(step)
            return data
        return super()._migrate(data, version)

    @property
    def is_eval(self) -> bool:
        return self.loss is None and self.eval_loss is not None


def parse_history_line(line: str | bytes) -> HistoryRow | None:
    """One history line as a row; None for a blank, torn or foreign line (readers skip those)."""
    line = line.strip()
    if not line:
        return None
    try:
        data = json.loads(line)
        return HistoryRow.from_data(data)
    except (ValueError, RecordError):
        return None


def read_history(path: Path) -> list[HistoryRow]:
    """Every readable row of a history file, in file order; [] when the file is missing.

    A kill can tear the last line in half (the writer appends): that line, like any other line
    that does not parse, is skipped rather than fatal.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return []
    rows = (parse_history_line(line) for line in text.splitlines())
    return [r for r in rows if r is not None]


def history_line(row: HistoryRow) -> str:
    return json.dumps(row.to_data()) + "\n"


def append_history(path: Path, row: HistoryRow) -> None:
    """One row appended and flushed (readers tail the file while the run writes it)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(history_line(row))
        f.flush()


def write_history(path: Path, rows: list[HistoryRow]) -> None:
    """Replace the whole history at once (a fresh run empties it, a resume cuts it back)."""
    atomic_write_text(path, "".join(history_line(r) for r in rows))


class TrainingStats(Record):
    """metrics/training-stats.json. The first six keys are the original script's; the rest forge's.

    Any key may be absent in an older file, so a stats file of the original script
    (or of an older forge) still reads. The batch keys record what actually ran: after an OOM retry
    they hold the halved micro-batch and doubled accumulation, not the configured values.
    """

    REMAKE: ClassVar[str] = "rerun `forge train` to write metrics/training-stats.json again"

    # the original keys
    model: str | None = None  # always written by forge; a hand-made or foreign file may lack it
    dataset_samples: int | None = None
    final_loss: float | None = None
    total_steps: int | None = None
    epochs: float | None = None
    completed_at: str | None = None
    # forge's additions: the loss summary of the history
    final_train_loss: float | None = None
    mean_train_loss: float | None = None
    first_train_loss: float | None = None
    eval_loss: float | None = None  # the last eval's, on val_samples_used of the val examples
    best_eval_loss: float | None = None
    eval_count: int | None = None
    # which val examples eval_loss covers, in words: a fixed sample (training.eval_samples) or all;
    # `forge evaluate`'s val_loss (metrics/evaluation.json) always scores all of them
    eval_loss_scope: str | None = None
    # the data and the run
    train_samples: int | None = None
    val_samples: int | None = None
    val_samples_used: int | None = None
    trained_tokens_per_epoch: int | None = None
    tokens_seen: int | None = None
    duration_seconds: float | None = None  # every segment of the run (a --resume adds to the earlier ones)
    segment_seconds: float | None = None  # this process's segment alone (all of duration without a resume)
    wall_seconds: float | None = None  # started_at to completed_at, pauses between segments included
    backend: str | None = None
    run_id: str | None = None
    started_at: str | None = None
    resumed_from: str | None = None
    # the settings that ran (after OOM backoff and the data-parallel division)
    learning_rate: float | None = None
    effective_batch: int | None = None
    per_device_train_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    world_size: int | None = None
    oom_retries: int = 0
    # torch's peak GPU memory over this process's segment (GB of 2**30), allocated and reserved; null
    # on the CPU
    peak_vram_gb: float | None = None
    peak_vram_reserved_gb: float | None = None
    # the same split at the first step: the load's peak (allocated), and the steps' own peaks, which
    # are what the plan's torch_peak_gb estimates (a 4-bit load can pass through a 16-bit copy)
    load_peak_vram_gb: float | None = None
    steps_peak_vram_gb: float | None = None
    steps_peak_vram_reserved_gb: float | None = None
    max_seq_length: int | None = None
    lora_r: int | None = None
    plan: dict[str, Any] = {}
    data: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    # where this run's config came from and where it put its outputs, so that the verbs after it
    # (export, verify, evaluate) find them with no flags (forge.config.verb_config): `config_source` is
    # {"file": the config file read (relative to the project when inside it; null: defaults),
    # "overrides": the --set values, "sha256": the file's content as the run read it, null for no
    # file; absent before forge recorded it}; `paths` the config's lora_path, merged_path, gguf_path and
    # output_dir as the run used them. Absent in files of an older forge (then nothing is followed).
    config_source: dict[str, Any] | None = None
    paths: dict[str, str | None] | None = None

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        if version == 0:  # the original script's file or forge before records: same keys, fewer of them
            return data
        return super()._migrate(data, version)


class RunFile(Record):
    """outputs/forge-run.json: what a resume must match, and the settings this run resolved to.

    `config` is the config that actually ran (rewritten after an OOM retry); `fingerprint` is what
    `--resume` compares (data hashes, model, effective batch, sequence length, template).
    """

    REMAKE: ClassVar[str] = (
        "delete outputs/forge-run.json to resume without the fingerprint check, or start over with --force"
    )

    run_id: str | None = None
    started_at: str | None = None
    backend: str | None = None
    resumed_from: str | None = None
    fingerprint: dict[str, Any] = {}
    plan: dict[str, Any] = {}
    config: dict[str, Any] = {}
    # what changed after the start (OOM retries: "micro-batch 4 -> 2, accumulation 1 -> 2")
    changes: list[str] = []

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        if version == 0:  # forge before records: the same keys
            return data
        return super()._migrate(data, version)
