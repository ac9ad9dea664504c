"""The `forge train` a hint may print: one that forge accepts in the state the project is in (torch-free).

Hints are written where that state is unknown ("re-run `forge train`" when an adapter is damaged,
"rerun `forge train`" after a failure), and the plain command is refused as soon as the output
folder holds complete checkpoints ("holds checkpoints of an earlier run", exit 2). QA (issue 28):
after two quick Ctrl-C on `train --resume` the hint was `next: forge train DIR` (refused); after a
SIGTERM of a `--force` run it dropped `--force` (refused); with a truncated adapter "re-run `forge
train DIR`" (refused) where `--resume` re-saves it from the last checkpoint.

`train_options` is the rule, asked of the disk as train asks it (forge.train.resume.start_point):

- a valid checkpoint to continue: `--resume` (from the run's own checkpoint; a finished run's
  last one re-saves its adapter), unless the command being retried was a `--force` that never got
  a checkpoint of its own (the earlier run it set aside is back): `--force` again;
- complete checkpoints but none valid: `--force` (a plain run and a plain `--resume` are refused);
- nothing: the plain command.

`accepted_hints` applies it to every plain `forge train` hint of a text (forge.hints names the
folder first): the command line runs it over every `fix:` it prints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# a plain train hint, after forge.hints named its folder: `forge train` or `forge train FOLDER`
_PLAIN = re.compile(r"`forge train((?: (?:'[^']*'|[^\s`'-][^\s`]*))?)`")


def output_dir(project: Any) -> Path:
    """The checkpoint folder a `forge train --resume` of this project would read."""
    from forge.errors import ForgeError
    from forge.train.start import TrainRequest, configured_config

    try:
        cfg = configured_config(project, TrainRequest(resume=True))
    except (ForgeError, OSError, ValueError):  # a config that does not load: the default folder
        return Path(project.root) / "outputs"
    return project.outputs(cfg).checkpoints


def train_options(project: Any, *, force: bool = False, run_id: str | None = None) -> str:
    """ "--resume", "--force" or "": what `forge train` needs now. `force`: the command retried was a
    --force run (`run_id`: its id, to tell its own checkpoint from the earlier run's)."""
    from forge.train.checkpoints import MARKER, list_checkpoints
    from forge.train.integrity import newest_valid
    from forge.train.resolved import read_run_file

    out = output_dir(project)
    if newest_valid(out) is not None:
        if not force:
            return "--resume"
        saved = read_run_file(out)
        return "--resume" if saved is not None and run_id is not None and saved.run_id == run_id else "--force"
    if force or any((c.path / MARKER).is_file() for c in list_checkpoints(out)):
        return "--force"
    return ""


def accepted_hints(text: Any, project: Any, *, force: bool = False) -> Any:
    """`text` with each plain `forge train` hint given the options that state needs (see above)."""
    if not isinstance(text, str) or not _PLAIN.search(text):
        return text
    try:
        extra = train_options(project, force=force)
    except OSError:
        return text
    if not extra:
        return text
    return _PLAIN.sub(lambda m: f"`forge train{m.group(1)} {extra}`", text)


def accepted_fix(fix: Any, folder: Any, argv: list[str]) -> Any:
    """The command line's error fix with accepted_hints applied to the project it names (`folder`,
    None: the current one); `argv` tells a retried `forge train --force` (which keeps --force)."""
    from forge.project import Project

    if not isinstance(fix, str) or not Path(folder or ".").is_dir():
        return fix
    retried_force = argv[:1] == ["train"] and "--force" in argv and "--resume" not in argv
    return accepted_hints(fix, Project.at(folder), force=retried_force)
