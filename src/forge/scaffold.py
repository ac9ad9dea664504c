"""A new project folder: the layout, a training-config.json with $schema, scripts/train.py (torch-free).

`forge init` and `forge demo` both make projects through `init_project`; it never overwrites a file
that is already there (an existing file is the user's).
"""

from __future__ import annotations

import json
from pathlib import Path

from forge.config import SCHEMA_FILE, default_config_dict
from forge.errors import UsageError
from forge.lock import writes_project
from forge.project import LAYOUT_DIRS, Project

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


@writes_project("init")  # one writer per project (forge.lock)
def init_project(directory: Path, example: str | None = None, model: str | None = None) -> tuple[Project, list[str]]:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder", "choose another path")
    project = Project.at(directory)
    for d in LAYOUT_DIRS:
        (project.root / d).mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    config = default_config_dict()
    if model:
        config["model"]["name"] = model
    if example:
        from forge.data.examples import example_config_overrides, write_example_data

        for section, values in example_config_overrides(example, model).items():
            config[section].update(values)
        written += write_example_data(example, project)
    _write_new(project.config_file, json.dumps(config, indent=2) + "\n", written)
    _write_new(project.root / "training-config.schema.json", SCHEMA_FILE.read_text(encoding="utf-8"), written)
    _write_new(project.scripts_dir / "train.py", TRAIN_SCRIPT, written)
    return project, written
