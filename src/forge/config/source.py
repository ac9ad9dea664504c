"""Where a config came from (its file and --set values: ConfigSource) and where the last run's did,
as training-stats.json and the status file record them (LastRun). forge.config.verb_config reads
these to decide which config a verb reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.config import ForgeConfig, config_path, load_config
from forge.project import OutputPaths, Project

PATH_KEYS = (
    ("lora_path", "save"),
    ("merged_path", "save"),
    ("gguf_path", "save"),
    ("output_dir", "training"),
)


@dataclass(frozen=True)
class ConfigSource:
    """A config file (None: no file, the defaults) and the --set values applied to it."""

    file: Path | None
    overrides: tuple[str, ...] = ()

    def load(self) -> ForgeConfig:
        return load_config(self.file, list(self.overrides))

    def flags(self, project: Project) -> str:
        """The command-line options that read this config again ("" for plain training-config.json)."""
        parts = []
        if self.file is not None and self.file != project.config_file.resolve():
            parts.append(f"--config {_quote(project.rel(self.file))}")
        parts += [f"--set {_quote(o)}" for o in self.overrides]
        return " ".join(parts)

    def name(self, project: Project) -> str:
        """The config as messages name it: its file (training-config.json, exp1.json), "+ --set" when
        --set values are read over it; "the defaults" when there is no file."""
        name = project.rel(self.file) if self.file is not None else "the defaults"
        return f"{name} + --set" if self.overrides else name

    def is_default(self, project: Project) -> bool:
        return not self.flags(project)

    def record(self, project: Project) -> dict[str, Any]:
        """How training-stats.json records it (`config_source`), with the sha256 of the file's content
        as the run read it (null: no file), so that a later verb can tell the file is unchanged since."""
        return {
            "file": project.rel(self.file) if self.file else None,
            "overrides": list(self.overrides),
            "sha256": _content_sha256(self.file),
        }

    @classmethod
    def from_record(cls, project: Project, data: Any) -> ConfigSource | None:
        if not isinstance(data, dict):
            return None
        file, overrides = data.get("file"), data.get("overrides") or []
        if not isinstance(file, (str, type(None))) or not all(isinstance(o, str) for o in overrides):
            return None
        return cls(project.path(file).resolve() if file else None, tuple(overrides))


def given_source(project: Project, config: str | Path | None, overrides: list[str] | None) -> ConfigSource:
    """What `--config` / `--set` name (a --config that is not there: ForgeError, exit 2, every path tried)."""
    path = config_path(project.root, config) if config is not None else project.config_file
    return ConfigSource(path.resolve() if path.is_file() else None, tuple(overrides or ()))


def paths_record(cfg: ForgeConfig) -> dict[str, str | None]:
    """The config's output keys as written (training-stats.json's `paths`)."""
    return {key: getattr(getattr(cfg, section), key) for key, section in PATH_KEYS}


def _outputs_of_record(project: Project, paths: dict) -> OutputPaths | None:
    data: dict[str, dict] = {"save": {}, "training": {}}
    for key, section in PATH_KEYS:
        if key in paths:
            data[section][key] = paths[key]
    try:
        return project.outputs(ForgeConfig.model_validate(data))
    except ValueError:  # a hand-edited record: nothing to follow
        return None


UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class LastRun:
    """What training-stats.json says of the run that made the outputs there now."""

    run_id: str | None
    source: ConfigSource
    outputs: OutputPaths
    # the sha256 of the config file as the run read it, None for no file; UNRECORDED: an older record
    file_sha256: str | None = UNRECORDED

    def file_unchanged(self, source: ConfigSource) -> bool:
        """Whether `source`'s file is the run's, with the content the run read (no file then and now
        counts); False where the record cannot tell (an older forge)."""
        if self.file_sha256 == UNRECORDED or source.file != self.source.file:
            return False
        return _content_sha256(source.file) == self.file_sha256


def last_run(project: Project) -> LastRun | None:
    """The last finished run's config source and output folders; None when not on record."""
    from forge.records.base import try_read_record
    from forge.records.train import TrainingStats

    stats, _ = try_read_record(project.training_stats_file, TrainingStats)
    if stats is None or not stats.paths:
        return None
    source = ConfigSource.from_record(project, stats.config_source)
    outputs = _outputs_of_record(project, stats.paths)
    if source is None or outputs is None:
        return None
    return LastRun(stats.run_id, source, outputs, _recorded_sha256(stats.config_source))


def started_run(project: Project) -> LastRun | None:
    """The last run as it started (the status file's `extra.config_source` / `extra.paths`, written
    when the run opens its status): an interrupted run has no training-stats.json of its own, and
    `--resume` must find its checkpoints. None when not on record (an older forge, no run yet)."""
    from forge.status import read_status

    status = read_status(project.status_file)
    extra = status.extra or {}
    run_id = status.run_id
    if not isinstance(extra.get("paths"), dict):  # a call refused before its run opened: the run it kept
        extra = extra.get("previous_run") if isinstance(extra.get("previous_run"), dict) else {}
        run_id = extra.get("run_id")
    paths = extra.get("paths")
    if not isinstance(paths, dict) or not paths:
        return None
    source = ConfigSource.from_record(project, extra.get("config_source"))
    outputs = _outputs_of_record(project, paths)
    if source is None or outputs is None:
        return None
    return LastRun(
        run_id if isinstance(run_id, str) else None, source, outputs, _recorded_sha256(extra.get("config_source"))
    )


def _content_sha256(file: Path | None) -> str | None:
    if file is None or not file.is_file():
        return None
    from forge.files import sha256_file

    return sha256_file(file)


def _recorded_sha256(data: Any) -> str | None:
    """The record's `sha256` of the config file (None: no file then); UNRECORDED for an older record."""
    if not isinstance(data, dict) or "sha256" not in data:
        return UNRECORDED
    value = data["sha256"]
    return value if isinstance(value, str) or value is None else UNRECORDED


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)
