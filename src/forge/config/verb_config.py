"""The config a verb reads: the `--config` / `--set` it was given, else the one the last run used.

Every verb that reads the project's config takes the same two options (forge.cli's ConfigOpt and
SetOpt): `--config F` (read by forge.config.config_path's rule: the current folder, then the
project folder) and `--set key=value`. Given either, a verb reads exactly that: F (default
training-config.json) + the --set values.

Given neither, check, plan, train and baseline read training-config.json (defaults where there is
none): they are about the next run. The verbs that read a finished run's outputs (export, verify,
evaluate, and the web UI's outputs) first ask the last run where it put them. `forge train`
records, in metrics/training-stats.json (`config_source`, `paths`), the config file and --set it
read and the output folders they gave (save.lora_path, merged_path, gguf_path, output_dir). When
training-config.json puts the outputs somewhere else (the run trained with `--config exp1.json`,
or `--set save.lora_path=...`):
- the verb follows the last run: it reads that run's config file and --set again, as long as they
  still give the folders the run recorded, and says so (a note on stderr; export's report and
  verify's --json carry it too), with the fix: pass --config to choose a config yourself;
- when they no longer give them (the file was edited or deleted since), it reads
  training-config.json and the note names the last run's adapter folder and the fix
  (--config FILE, or --set save.lora_path=...).
A run that read training-config.json itself and differed from it only through --set values
(`forge train P --set model.name=X`) is followed too, while the file is unchanged since: the run
records the file's sha256 (`config_source.sha256`, null for no file), and when the file on disk
has that content the run's config is the file + those values, read with a one-line note naming
them. Once the file is edited, the verb reads it as it is (an adapter of another base is then
refused with its fix) and the note says the run's --set values were not followed. baseline, about
the next run, reads the file, with a note when such a run trained another model. A record of an
older forge without the hash is followed by the output folders alone. metrics/ is the project's own (no config key moves it),
so training-stats.json is always found. A stats file of an older forge records neither key:
nothing is followed.

`--resume` with no --config (train and check) is about the run to continue, which may have been
interrupted before it wrote training-stats.json: the recipe records the same two keys in the
status file's `extra` when it opens it (a call refused before that hands them on in
`extra.previous_run`), and load_resume_config follows them by the same rule, on the checkpoint
folder (training.output_dir).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.config import ConfigError, ForgeConfig
from forge.config.source import UNRECORDED, ConfigSource, LastRun, _quote, given_source, last_run, started_run
from forge.project import OutputPaths, Project


@dataclass
class VerbConfig:
    """The config a verb reads, where it came from, and what the verb must say about it."""

    cfg: ForgeConfig
    source: ConfigSource
    notes: list[str] = field(default_factory=list)
    followed: LastRun | None = None  # the last run whose config this is, when followed

    def describe(self, project: Project) -> dict[str, Any]:
        """For --json answers: which config was read, and the notes."""
        out = self.source.record(project)
        out["followed_run"] = self.followed.run_id if self.followed else None
        out["notes"] = list(self.notes)
        return out


def load_verb_config(
    project: Project,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    follow_last_run: bool = True,
) -> VerbConfig:
    """The config of a verb (the rule in the module docstring). ConfigError (exit 2) for a bad
    file or --set; `follow_last_run=False` for the verbs about the next run (check, plan, train, baseline)."""
    source = given_source(project, config, overrides)
    if config is not None or overrides:
        return VerbConfig(source.load(), source)
    if not follow_last_run:
        cfg = source.load()
        return VerbConfig(cfg, source, _next_run_note(project, cfg, source))
    last = last_run(project)
    try:
        cfg = source.load()
    except ConfigError as e:  # the last run read another file, which may still load: follow it
        return _follow_despite(
            project, source, last, e, lambda c: project.outputs(c).compared() == last.outputs.compared()
        )
    if last is not None and last.source.overrides and last.file_unchanged(source):
        return _follow_overrides(project, source, last) or VerbConfig(cfg, source)
    if last is None or last.outputs.compared() == project.outputs(cfg).compared():
        notes = [_edited_since(project, source, last)] if last is not None and last.source.overrides else []
        return VerbConfig(cfg, source, [n for n in notes if n])
    return _follow(project, cfg, source, last)


def _follow_overrides(project: Project, source: ConfigSource, last: LastRun) -> VerbConfig | None:
    """The run read this very file, unchanged since, and only its --set values made it differ: its
    config is the file + those values (None where they no longer load, e.g. a key renamed since)."""
    rebuilt = _load_or_none(last.source)
    if rebuilt is None:
        return None
    name = _file_label(project, source)
    note = (
        f"reading the config of {_run_label(last)}: {name}, unchanged since, with `{last.source.flags(project)}`; "
        f"fix: pass --config (and --set) to read another config, e.g. `--config {project.rel(project.config_file)}`"
    )
    return VerbConfig(rebuilt, last.source, [note], followed=last)


def _edited_since(project: Project, source: ConfigSource, last: LastRun) -> str | None:
    """The note where the run's --set values are not followed because its file changed since."""
    if last.file_sha256 == UNRECORDED or last.source.file != source.file:
        return None
    name = _file_label(project, source, "the defaults")
    return (
        f"{_run_label(last)} trained with `{last.source.flags(project)}` over {name}, which has changed since: "
        f"reading {name} as it is now; fix: pass those --set values again to read that run's config"
    )


def _next_run_note(project: Project, cfg: ForgeConfig, source: ConfigSource) -> list[str]:
    """For baseline (about the next run): a last run trained on another model through --set over this
    very file, unchanged since, is evaluated against a baseline of its own model, not this one."""
    last = last_run(project)
    if last is None or not last.source.overrides or not last.file_unchanged(source):
        return []
    theirs = _load_or_none(last.source)
    if theirs is None or theirs.model.name == cfg.model.name:
        return []
    return [
        f"{_run_label(last)} trained {theirs.model.name} with `{last.source.flags(project)}`; this scores "
        f"{cfg.model.name}, the model of {_file_label(project, source, 'the defaults')}; fix: to "
        f"evaluate that run, score its base model: `--set model.name={_quote(theirs.model.name)}`"
    ]


def stacked(earlier: tuple[str, ...] | list[str], later: list[str] | None) -> tuple[str, ...]:
    """A run's --set values with this call's on top, each key once (the last value: the one that
    counts): every --resume appended its --set to the run's, so the recorded source and the `next:`
    hints grew `--set training.max_steps=140 --set training.max_steps=142` with each resume."""
    both = [*earlier, *(later or ())]
    keys = [o.partition("=")[0].strip() for o in both]
    return tuple(o for i, o in enumerate(both) if keys[i] not in keys[i + 1 :])


def load_resume_config(project: Project, overrides: list[str] | None = None) -> VerbConfig:
    """`forge train --resume` / `forge check --resume` with no --config: the run to continue is the
    last one started (started_run). When training-config.json keeps checkpoints elsewhere, its
    config file and --set are read again (this call's --set on top), as long as they still give the
    folder it recorded, with a note and the fix (pass --config); when they no longer do, the file's
    own config, and the note says so and names the run's checkpoint folder. ConfigError as load_config."""
    source = given_source(project, None, overrides)
    last = started_run(project)
    try:
        cfg = source.load()
    except ConfigError as e:
        if last is None:
            raise
        followed = ConfigSource(last.source.file, stacked(last.source.overrides, overrides))
        return _follow_despite(
            project, source, last, e, lambda c: project.outputs(c).checkpoints == last.outputs.checkpoints, followed
        )
    ours = project.outputs(cfg).checkpoints
    if last is None or last.outputs.checkpoints == ours:
        return VerbConfig(cfg, source)
    name = _file_label(project, source)
    run = _run_label(last)
    theirs = project.rel(last.outputs.checkpoints)
    followed = ConfigSource(last.source.file, stacked(last.source.overrides, overrides))
    rebuilt = _load_or_none(followed)
    if rebuilt is not None and project.outputs(rebuilt).checkpoints == last.outputs.checkpoints:
        flags = last.source.flags(project)
        note = (
            f"--resume: reading the config of {run}, `{flags}`: it keeps its checkpoints in {theirs}, and {name} "
            f"says training.output_dir {project.rel(ours)}; fix: pass --config (and --set) to resume another run, "
            f"e.g. `--config {project.rel(project.config_file)}`"
        )
        return VerbConfig(rebuilt, followed, [note], followed=last)
    how = last.source.flags(project)
    how = f" (it trained with `{how}`, which no longer says so)" if how else " (the file said so then)"
    note = (
        f"--resume: {run} keeps its checkpoints in {theirs}{how}, but {name} says training.output_dir "
        f"{project.rel(ours)}: looking in {project.rel(ours)}; fix: to continue that run, pass --config FILE "
        f"whose training.output_dir is {theirs}"
    )
    return VerbConfig(cfg, source, [note])


def _follow(project: Project, cfg: ForgeConfig, source: ConfigSource, last: LastRun) -> VerbConfig:
    name = _file_label(project, source)
    run = _run_label(last)
    theirs, ours = project.rel(last.outputs.lora), project.rel(project.outputs(cfg).lora)
    said = _differences(project, last.outputs, project.outputs(cfg))
    rebuilt = _load_or_none(last.source) if last.source != source else None
    if rebuilt is not None and project.outputs(rebuilt).compared() == last.outputs.compared():
        flags = last.source.flags(project)
        note = (
            f"reading the config of {run}, `{flags}`: it saved its adapter in {theirs}, and {name} says {said}; "
            f"fix: pass --config (and --set) to read another config, e.g. `--config {project.rel(project.config_file)}`"
        )
        return VerbConfig(rebuilt, last.source, [note], followed=last)
    how = last.source.flags(project)
    how = f" (it trained with `{how}`, which no longer says so)" if how else " (the file said so then)"
    note = (
        f"{run} saved its adapter in {theirs}{how}, but {name} says {said}: reading {name}, whose adapter "
        f"folder is {ours}; fix: to use that run's outputs, pass --config FILE with save.lora_path "
        f"{theirs} or --set save.lora_path={theirs}"
    )
    return VerbConfig(cfg, source, [note])


def _follow_despite(
    project: Project,
    source: ConfigSource,
    last: LastRun | None,
    error: ConfigError,
    same_outputs,
    followed: ConfigSource | None = None,
) -> VerbConfig:
    """The verb's own config does not load, but the last run read another file: read that one when it
    loads and still gives the run's folders (with a note naming the broken file); else the error."""
    followed = followed or (last.source if last else None)
    if last is None or followed is None or followed.file == source.file:
        raise error
    rebuilt = _load_or_none(followed)
    if rebuilt is None or not same_outputs(rebuilt):
        raise error
    name = _file_label(project, source, "training-config.json")
    run = _run_label(last)
    problem = str(error).splitlines()[0] if str(error) else type(error).__name__
    note = (
        f"{name} does not load ({problem}); reading the config of {run}, `{last.source.flags(project)}`, "
        f"which made the outputs; fix: repair {name}, or pass --config to choose a config yourself"
    )
    return VerbConfig(rebuilt, followed, [note], followed=last)


def _file_label(project: Project, source: ConfigSource, none: str = "the defaults (no training-config.json)") -> str:
    """The config file a source reads, as the notes name it (`none` where it reads no file)."""
    return project.rel(source.file) if source.file else none


def _run_label(last: LastRun) -> str:
    return f"the last run ({last.run_id})" if last.run_id else "the last run"


def _load_or_none(source: ConfigSource) -> ForgeConfig | None:
    """A recorded config read again, or None where it no longer loads (edited or deleted since)."""
    try:
        return source.load()
    except ConfigError:
        return None


def _differences(project: Project, then: OutputPaths, now: OutputPaths) -> str:
    keys = ("save.lora_path", "save.merged_path", "save.gguf_path")
    parts = [
        f"{key} {project.rel(b)}" for key, a, b in zip(keys, then.compared(), now.compared(), strict=True) if a != b
    ]
    return ", ".join(parts)


def reader_config(project: Project) -> ForgeConfig:
    """The config readers that take no flags (the web UI, verify's library call) check outputs by:
    the verbs' rule, load_verb_config; the defaults where the config does not load (a broken file
    must not take a page down: `forge verify` and `forge check` name its problems)."""
    from forge.errors import ForgeError

    try:
        return load_verb_config(project).cfg
    except ForgeError:
        return ForgeConfig()
