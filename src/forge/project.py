"""Every path of a Data Factory project folder, in one place.

Other modules never join path strings themselves: they ask a Project. That keeps the folder
layout of DESIGN.md in one file and lets tests point a Project at a temporary folder.

Where a run's outputs go is the config's to say (save.lora_path, save.merged_path, save.gguf_path,
training.output_dir): `Project.outputs(cfg)` is the one place that turns a config into those
folders. The `lora_dir`, `merged_dir`, `quantized_dir` and `outputs_dir` properties are only the
defaults those keys fall back to; a verb that reads outputs asks `outputs(cfg)` with the config it
loaded (forge.config.verb_config), never the defaults (tests/unit/test_output_paths_class.py keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forge.errors import UsageError

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
class OutputPaths:
    """Where a config puts a run's outputs (absolute; a relative key is read from the project folder)."""

    lora: Path  # save.lora_path: the final adapter
    merged: Path  # save.merged_path, else models/checkpoints/merged (`forge export --merged`)
    gguf: Path  # save.gguf_path, else models/quantized (`forge export --gguf`)
    checkpoints: Path  # training.output_dir: checkpoint-N folders and forge-run.json

    def compared(self) -> tuple[Path, Path, Path]:
        """The folders the verbs after training read (export, verify, evaluate), to compare runs by."""
        return (self.lora.resolve(), self.merged.resolve(), self.gguf.resolve())


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> Project:
        return cls(Path(root or ".").expanduser().resolve())

    @classmethod
    def existing(cls, root: str | Path | None = None) -> Project:
        """The project of a verb that works on one (all but init and demo): a folder that is not there
        is a typo, refused with exit 2 before the verb reads or writes anything. Without it each verb
        met the typo its own way: export made the folder to write its report in, baseline blamed
        data/splits/val.jsonl, check and verify listed every item as missing."""
        project = cls.at(root)
        if not project.root.is_dir():
            what = "it is a file" if project.root.exists() else "nothing is there"
            raise UsageError(
                f"not a folder: {project.root} ({what})",
                "name a project folder made by `forge init` (or run the verb inside one)",
                file=str(project.root),
            )
        return project

    def path(self, relative: str | Path) -> Path:
        """A config-relative path (absolute paths are kept as they are)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    def outputs(self, cfg) -> OutputPaths:
        """The output folders of `cfg` (a forge.config.ForgeConfig): the one reader of its path keys."""
        save = cfg.save
        return OutputPaths(
            lora=self.path(save.lora_path),
            merged=self.path(save.merged_path) if save.merged_path else self.merged_dir,
            gguf=self.path(save.gguf_path) if save.gguf_path else self.quantized_dir,
            checkpoints=self.path(cfg.training.output_dir),
        )

    def output_clashes(self, cfg) -> list[tuple[str, str]]:
        """(key, why) for each output folder of `cfg` that would write over the project itself.

        The adapter and the merged model are swapped into place as whole folders (the old folder
        goes once the new one is complete): `save.lora_path` "" or "." swapped the adapter in as
        the project folder and deleted data, config and checkpoints with it. Checkpoints and GGUF
        files are written into their folder, so those only must not be the project folder or above it.
        """
        out = self.outputs(cfg)
        root = self.root.resolve()
        inputs = {
            "the config": self.config_file,
            "the data splits": self.root / "data",
            "metrics/": self.metrics_dir,
            ".factory/": self.factory_dir,
            "logs/": self.log_file.parent,
        }
        checks = [("save.lora_path", out.lora, True), ("training.output_dir", out.checkpoints, False)]
        if cfg.save.merged_path:
            checks.append(("save.merged_path", out.merged, True))
        if cfg.save.gguf_path:
            checks.append(("save.gguf_path", out.gguf, False))
        clashes = []
        for key, folder, swapped in checks:
            target = folder.resolve()
            if _within(root, target):
                what = "is the project folder" if target == root else f"holds the project folder ({root})"
                clashes.append((key, f"{key} {what}: {self.rel(folder) or '.'} would write over the project"))
                continue
            others = {k: f for k, f in self._output_keys(out).items() if k != key}
            held = [name for name, p in {**inputs, **others}.items() if swapped and _within(p.resolve(), target)]
            if held:
                clashes.append((key, f"{key} holds {', '.join(held)}: saving there replaces the folder, and them"))
        return clashes

    @staticmethod
    def _output_keys(out: OutputPaths) -> dict[str, Path]:
        return {
            "save.lora_path": out.lora,
            "save.merged_path": out.merged,
            "save.gguf_path": out.gguf,
            "training.output_dir": out.checkpoints,
        }

    def rel(self, p: Path) -> str:
        """`p` relative to the project folder when inside it, else absolute: how paths are printed."""
        try:
            return str(Path(p).relative_to(self.root))
        except ValueError:
            return str(p)

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

    @property
    def runs_file(self) -> Path:
        return self.metrics_dir / "runs.jsonl"

    # models: the defaults of save.* and training.output_dir (use outputs(cfg))
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
