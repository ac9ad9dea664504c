"""Refusals that depend on this machine and folder rather than on the config's own values.

Each of these used to pass `forge check` and then fail `forge train` after the model had loaded
(or after the whole run): the model neither on disk nor downloadable; a tracker in
training.report_to that is not installed; an output folder that cannot be created or written; a
max_seq_length beyond the positions the model was trained for. Torch-free: the model's reach is
forge.models.loader.resolve_model_path (the call training makes before it loads), trackers are
looked up with importlib.util.find_spec, folders with one empty probe folder made and removed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from forge.config import ForgeConfig
from forge.config.trainer_names import TRACKER_ALTERNATIVES, TRACKERS, tracker_list
from forge.errors import ForgeError
from forge.models.facts import ModelFacts
from forge.plan.settings import Plan, Refusal

# the keys of the folders a run writes, checked before it starts
OUTPUT_KEYS = ("training.output_dir", "save.lora_path", "save.merged_path", "save.gguf_path")
OUTPUT_DEFAULTS = {
    "training.output_dir": "outputs",
    "save.lora_path": "models/checkpoints/lora",
    "save.merged_path": "models/checkpoints/merged",
    "save.gguf_path": "models/quantized",
}


def add_environment_refusals(
    p: Plan, config: ForgeConfig, facts: ModelFacts, root: Path | None, already_not_found: bool
) -> None:
    if not already_not_found:
        _model_reach(p, config, facts)
    _position_limit(p, config, facts)
    _trackers(p, config)
    _output_paths(p, config, root)


def _refuse(p: Plan, kind: str, key: str, message: str, fix: str) -> None:
    p.refusals.append(Refusal(kind, key, message, fix))


def _model_reach(p: Plan, config: ForgeConfig, facts: ModelFacts) -> None:
    """A model not on disk is fetched at load time; where it cannot be (no cache, no network, a
    wrong name), training's own resolution says why, now, in the words training would use."""
    if facts.source == "files":
        return
    from forge.models.loader import resolve_model_path

    try:
        resolve_model_path(config.model.name)
    except ForgeError as e:
        _refuse(p, "model", "model.name", e.message, e.fix or "")


def trained_positions(facts: ModelFacts) -> int | None:
    """The positions the model was trained for, where its files (or the name table) say so; None
    where config.json names none (the shape's 8192 is then a guess, not a limit)."""
    if facts.shape is None:
        return None
    if facts.source != "files":
        return facts.shape.max_positions if facts.source == "table" else None
    try:
        config = json.loads((Path(facts.folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for section in (config.get("text_config") or {}, config):
        value = section.get("max_position_embeddings") if isinstance(section, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def _position_limit(p: Plan, config: ForgeConfig, facts: ModelFacts) -> None:
    # refused rather than capped: a silent cap is the silent truncation DESIGN.md rules out, and
    # positions beyond the trained ones give the model inputs it has never seen
    limit = trained_positions(facts)
    seq = p.settings["model.max_seq_length"].value if "model.max_seq_length" in p.settings else None
    if limit is None or not isinstance(seq, int) or seq <= limit:
        return
    _refuse(
        p,
        "seq_length",
        "model.max_seq_length",
        f"model.max_seq_length is {seq:,}, beyond the {limit:,} positions {config.model.name} was trained for "
        "(max_position_embeddings)",
        f"set model.max_seq_length to {limit} or less (or leave it to `forge plan`)",
    )


def _installed(tracker: str) -> bool:
    modules = TRACKER_ALTERNATIVES.get(tracker, (TRACKERS[tracker],))
    for module in modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def _trackers(p: Plan, config: ForgeConfig) -> None:
    missing = [t for t in tracker_list(config.training.report_to) if t in TRACKERS and not _installed(t)]
    if missing:
        names = ", ".join(missing)
        _refuse(
            p,
            "report_to",
            "training.report_to",
            f"training.report_to names {names}, which is not installed here",
            f"pip install {' '.join(TRACKERS[t] for t in missing)}, or set training.report_to to none",
        )


def writable_problem(path: Path) -> str | None:
    """Why a run could not create or write the folder `path` (None: it can), without writing
    anything: check and the web UI are readers, and a probe folder changed the project's
    folders under them. os.access says yes to root almost everywhere, so a read-only mount and
    the kernel's pseudo-filesystems (/proc, /sys, where mkdir fails even for root) are named too."""
    if path.exists() and not path.is_dir():
        return f"{path} exists and is not a folder"
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            return f"{path}: no existing folder above it"
        parent = parent.parent
    if not parent.is_dir():
        return f"{path}: {parent} is a file, not a folder"
    where = parent.resolve()
    if where.parts[:2] in (("/", "proc"), ("/", "sys")):
        return f"{path} cannot be created or written ({where} is a kernel pseudo-filesystem, not storage)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created or written (no write permission in {parent})"
    try:
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            return f"{path} cannot be created or written ({parent} is on a read-only filesystem)"
    except (OSError, AttributeError):  # no statvfs (Windows): the access check is the answer
        pass
    return None


def _output_paths(p: Plan, config: ForgeConfig, root: Path | None) -> None:
    if root is not None:
        from forge.project import Project

        for key, why in Project.at(root).output_clashes(config):
            fix = f"point {key} at a folder of its own inside the project (its default: {OUTPUT_DEFAULTS[key]})"
            _refuse(p, "paths", key, why, fix)
    for key in OUTPUT_KEYS:
        section, name = key.split(".", 1)
        value = getattr(getattr(config, section), name)
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            if root is None:
                continue  # relative to a project the caller did not name
            path = root / path
        problem = writable_problem(path)
        if problem:
            _refuse(p, "paths", key, f"{key}: {problem}", f"point {key} at a folder this user can write")
