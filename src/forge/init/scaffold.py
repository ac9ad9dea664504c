"""A new project folder: the layout, a training-config.json with $schema, scripts/train.py (torch-free).

`forge init` and `forge demo` both make projects through `init_project`; it never overwrites a file
that is already there (an existing file is the user's). Its arguments are checked before anything
is written (`new_config`). Beside a new config it records which values are the template's defaults
and which a flag chose (`.factory/plan.json`, forge.plan.choices), so `forge plan` keeps a model
named with `--model` even when it is the default's name.

An existing config is kept, with one exception that a user asking `--model X` expects: when its
model.name is still the one forge wrote (nobody chose it), it becomes X. A model.name the user chose
is kept; `check_existing` says so (the CLI refuses, exit 2, naming both names and the fix), and
`init_project` leaves it as it is (`forge demo` rewrites its own config afterwards).
"""

from __future__ import annotations

import json
from pathlib import Path

from forge.config import SCHEMA_FILE, default_config_dict
from forge.errors import UsageError
from forge.lock import writes_project
from forge.project import CONFIG_NAME, LAYOUT_DIRS, Project

TRAIN_SCRIPT = '''\
"""Train this project with forge (kept for the older `python scripts/train.py` workflow)."""

import argparse
import sys
from pathlib import Path

from forge.cli import main

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default=None, help="training-config.json to use")
args, rest = parser.parse_known_args()
project = Path(__file__).resolve().parent.parent
argv = ["train", str(project)] + (["--config", args.config] if args.config else []) + rest
sys.exit(main(argv))
'''


def _write_new(path: Path, text: str, written: list[str]) -> None:
    """Never overwrite: an existing file is the user's."""
    if path.exists():
        return
    from forge.files import atomic_write_text

    atomic_write_text(path, text)  # a killed init leaves no torn file that the next init would keep
    written.append(str(path))


def new_config(example: str | None = None, model: str | None = None) -> tuple[dict, dict[str, str]]:
    """(the config a new project gets, section.key -> the flag that chose it); UsageError or
    ConfigError for an unknown example or a config that would not load, before anything is written."""
    from forge.config import validate_dict

    config = default_config_dict()
    chosen: dict[str, str] = {}
    if example:
        from forge.data.examples import example_config_overrides

        for section, values in example_config_overrides(example, model).items():  # an unknown name raises
            config[section].update(values)
            chosen.update({f"{section}.{k}": f"forge init --example {example}" for k in values})
    if model is not None:
        config["model"]["name"] = model
        chosen["model.name"] = "forge init --model"
    validate_dict(config, "forge init")  # e.g. an empty --model, named by key
    return config, chosen


def existing_model(project: Project, model: str) -> tuple[str, str | None] | None:
    """For `--model X` on a folder whose config exists: None when there is none or it names X;
    else (its model.name, why that is the user's; None when forge wrote it and nobody chose it)."""
    from forge.config import load_config_dict
    from forge.plan.choices import read_record, user_choices

    if not project.config_file.is_file():
        return None
    raw = load_config_dict(project.config_file)  # ConfigError (exit 2) names what is wrong with it
    current = (raw.get("model") or {}).get("name", default_config_dict()["model"]["name"])
    if current == model:
        return None
    why = user_choices(raw, read_record(project)).get("model.name")
    return current, why


def check_existing(directory: Path, example: str | None = None, model: str | None = None) -> None:
    """What `forge init` refuses before writing anything: bad arguments, or `--model X` over an
    existing config whose model.name the user chose (init never overwrites a choice)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder", "choose another path")
    new_config(example, model)
    if model is None:
        return
    found = existing_model(Project.at(directory), model)
    if found and found[1]:
        current, why = found
        raise UsageError(
            f"{directory / CONFIG_NAME} already names model.name {current} (yours: {why}); "
            f"init does not change it to {model}",
            f"to train {model}: forge plan {directory} --set model.name={model} --write, or edit "
            f"model.name in {CONFIG_NAME}; to keep {current}, drop --model",
        )


def init_project(
    directory: Path, example: str | None = None, model: str | None = None, notes: list[str] | None = None
) -> tuple[Project, list[str]]:
    """Make the project (files that exist are kept); `notes`: what it did not do as asked, and why."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder", "choose another path")
    config, chosen = new_config(example, model)  # before the first folder is made
    return _init(directory, example, model, config, chosen, notes if notes is not None else [])


@writes_project("init")  # one writer per project (forge.lock)
def _init(directory: Path, example, model, config: dict, chosen: dict, notes: list[str]) -> tuple[Project, list]:
    project = Project.at(directory)
    existed = project.config_file.exists()
    for d in LAYOUT_DIRS:
        (project.root / d).mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if example:
        from forge.data.examples import write_example_data

        written += write_example_data(example, project, mark=not existed)
    _write_new(project.config_file, json.dumps(config, indent=2) + "\n", written)
    if not existed:
        from forge.plan.choices import init_record, record_path
        from forge.records.base import write_record

        write_record(record_path(project), init_record(config, chosen))
    else:
        if example:
            notes.append(f"{CONFIG_NAME} exists and was kept: the settings of the example {example} were not applied")
        if model is not None:
            _model_into_existing(project, model, notes)
    _write_new(project.root / "training-config.schema.json", SCHEMA_FILE.read_text(encoding="utf-8"), written)
    _write_new(project.scripts_dir / "train.py", TRAIN_SCRIPT, written)
    return project, written


def _model_into_existing(project: Project, model: str, notes: list[str]) -> None:
    """`--model X` on an existing config: X where forge wrote model.name and nobody chose it; else kept."""
    from forge.config import ConfigError, load_config_dict
    from forge.files import atomic_write_text
    from forge.plan.choices import choose, read_record, record_path
    from forge.records.base import write_record

    try:
        found = existing_model(project, model)
    except ConfigError as e:
        notes.append(f"{CONFIG_NAME} does not load ({e.message}): --model {model} was not applied")
        return
    if found is None:
        return
    current, why = found
    if why:
        notes.append(f"model.name {current} kept (yours: {why}); --model {model} was not applied")
        return
    raw = load_config_dict(project.config_file)
    raw.setdefault("model", {})["name"] = model
    atomic_write_text(project.config_file, json.dumps(raw, indent=2) + "\n")
    write_record(record_path(project), choose(read_record(project), "model.name", "forge init --model"))
    notes.append(f"model.name {current} -> {model} in {CONFIG_NAME} (forge had written {current}; nobody chose it)")
