"""Every path of a Data Factory project folder, in one place.

Other modules never join path strings themselves: they ask a Project. That keeps the folder
layout of DESIGN.md in one file and lets tests point a Project at a temporary folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "training-config.json"

# Folders `forge init` creates; everything else appears as the workflow runs.
LAYOUT_DIRS = (
    "data/splits",
    "metrics",
    "models/checkpoints",
    "models/quantized",
    "outputs",
    "logs",
    "scripts",
    ".factory",
)


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> Project:
        return cls(Path(root or ".").expanduser().resolve())

    def path(self, relative: str | Path) -> Path:
        """A config-relative path (absolute paths are kept as they are)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    # configuration
    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    # data
    @property
    def train_file(self) -> Path:
        return self.root / "data" / "splits" / "train.jsonl"

    @property
    def val_file(self) -> Path:
        return self.root / "data" / "splits" / "val.jsonl"

    # metrics
    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def baseline_file(self) -> Path:
        return self.metrics_dir / "baseline.json"

    @property
    def training_stats_file(self) -> Path:
        return self.metrics_dir / "training-stats.json"

    @property
    def history_file(self) -> Path:
        return self.metrics_dir / "training-history.jsonl"

    @property
    def loss_plot_file(self) -> Path:
        return self.metrics_dir / "loss.png"

    @property
    def evaluation_file(self) -> Path:
        return self.metrics_dir / "evaluation.json"

    @property
    def export_report_file(self) -> Path:
        return self.metrics_dir / "export-report.json"

    # models
    @property
    def lora_dir(self) -> Path:
        return self.root / "models" / "checkpoints" / "lora"

    @property
    def merged_dir(self) -> Path:
        return self.root / "models" / "checkpoints" / "merged"

    @property
    def quantized_dir(self) -> Path:
        return self.root / "models" / "quantized"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    # live state
    @property
    def factory_dir(self) -> Path:
        return self.root / ".factory"

    @property
    def status_file(self) -> Path:
        return self.factory_dir / "training-status.json"

    @property
    def lock_file(self) -> Path:
        return self.factory_dir / "train.lock"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "training.log"

    @property
    def scripts_dir(self) -> Path:
        return self.root / "scripts"
