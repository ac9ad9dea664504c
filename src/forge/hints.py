"""Command hints that name the project folder (torch-free, core).

A hint such as ``rerun `forge train --resume` `` is pasted as it is: pasted in another folder, it
runs on another project. Hints are written where the folder is often unknown (config loading, the
trainer, a checklist item), so they are written without one, and `name_folder` names it in each
hint of a text at the few places a text reaches its reader:

- what the command line prints itself (an error's fix, a checklist's fixes, `next:` lines, `forge
  status`'s own lines): `folder_arg(root)`, nothing for the current folder, else the path (relative
  where it is below the current folder), shell-quoted;
- what the status file stores (error, solution, message), and what the web UI shows: the absolute
  path, shell-quoted, because the file is read from anywhere (the web UI, `forge status` from
  another folder, agents), where a path relative to the writer's current folder means nothing.

A hint is a backquoted command of a verb that takes a project folder (`forge VERB ...`), and it is
named when the verb is followed by an option, by the closing backquote, or by the placeholder DIR
(replaced). A hint that names a folder already is left as it is, so naming twice changes nothing.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

# the verbs whose first argument is the project folder (init names a new one; schema and demo none)
PROJECT_VERBS = (
    "check",
    "plan",
    "train",
    "status",
    "stop",
    "runs",
    "ui",
    "export",
    "baseline",
    "evaluate",
    "verify",
    "split",
)
_HINT = re.compile(r"`forge (" + "|".join(PROJECT_VERBS) + r")(?: DIR\b)?(?=`| -)")


def folder_arg(root: str | Path, absolute: bool = False) -> str:
    """The project folder as a command must name it to be pasted as it is: "" for the current folder,
    else a space and the path (relative where it is below the current folder; always absolute with
    `absolute`), shell-quoted (spaces, quotes)."""
    root = Path(root).resolve()
    if absolute:
        return " " + shlex.quote(str(root))
    here = Path.cwd().resolve()
    if root == here:
        return ""
    try:
        shown = str(root.relative_to(here))
    except ValueError:
        shown = str(root)
    return " " + shlex.quote(shown)


def forge_command() -> str:
    """How the reader runs this forge: `forge` where that name on PATH is this forge (or where it is
    not known which script runs), else the script's own path (`.venv/bin/forge` after `make demo`,
    relative to the current folder where it is below it), or `python -m forge`."""
    import shutil
    import sys

    on_path = shutil.which("forge")
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is None or script.name != "forge" or not script.is_file():
        return "forge" if on_path or script is None or script.name != "__main__.py" else f"{sys.executable} -m forge"
    if on_path and Path(on_path).resolve() == script.resolve():
        return "forge"
    try:
        shown = str(script.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(script.resolve())
    return shlex.quote(shown)


def name_folder(text: Any, root: str | Path | None, absolute: bool = False) -> Any:
    """`text` with every command hint in it naming the project folder `root` (None: unchanged; what
    is not a string, e.g. a damaged status value, is returned as it is)."""
    if not isinstance(text, str) or root is None or "`forge " not in text:
        return text
    folder = folder_arg(root, absolute)
    return _HINT.sub(lambda m: f"`forge {m.group(1)}{folder}", text)
