"""Reading a config: the file, `--config`'s path rule, and defaults <- file <- --set validated together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from forge.config.errors import ConfigError, describe
from forge.config.overrides import apply_overrides
from forge.config.sections import ForgeConfig
from forge.errors import EXIT_USAGE, ForgeError


def validate_dict(data: dict[str, Any], source: str = "training-config.json") -> ForgeConfig:
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold one JSON object"], source, file_fix=_object_fix(source))
    try:
        return ForgeConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError([describe(err) for err in e.errors()], source) from None


def load_config_dict(path: Path | None) -> dict[str, Any]:
    """The raw dict of a config file ({} when there is none)."""
    if path is None or not path.exists():
        return {}
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is read past, as the data
        # reader does; writers (plan --write) write plain UTF-8, so the mark goes on the first write
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(
            ["not UTF-8 text; save it as UTF-8"], str(path), file_fix=f"save {path} as UTF-8 text"
        ) from None
    except OSError as e:  # a folder of that name, no read permission
        raise ConfigError(
            [f"cannot read the file: {e.strerror or e}"],
            str(path),
            file_fix=f"make {path} a readable file (check its permissions), or pass --config FILE",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            [f"line {e.lineno} column {e.colno}: invalid JSON: {e.msg}"],
            str(path),
            file_fix=f"fix the JSON syntax at line {e.lineno} column {e.colno} of {path}",
            line=e.lineno,
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold one JSON object"], str(path), file_fix=_object_fix(str(path)))
    return data


def _object_fix(source: str) -> str:
    return f'make {source} one JSON object, {{"model": {{...}}, "training": {{...}}}} (`forge schema` lists the keys)'


def config_path(root: Path, given: str | Path | None) -> Path:
    """The file `--config` names, for check, plan and train alike.

    A relative path is read from the current folder, as every other command-line path is; where
    nothing is there, from the project folder (what `forge train DIR --config F` always did, so
    existing command lines keep working). Not found: the error names every path it tried.
    """
    if given is None:
        return root / "training-config.json"
    p = Path(given).expanduser()
    tried = [p.resolve()] if p.is_absolute() else [(Path.cwd() / p).resolve(), (root / p).resolve()]
    for candidate in dict.fromkeys(tried):
        if candidate.is_file():
            return candidate
    where = " nor ".join(str(t) for t in dict.fromkeys(tried))
    raise ForgeError(
        f"--config {given}: no file at {where}",
        "pass the path of an existing config file (relative paths start from the current folder, then the "
        "project folder)",
        exit_code=EXIT_USAGE,
        kind="config",
    )


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> ForgeConfig:
    """Defaults <- file <- --set overrides, validated together."""
    data = load_config_dict(path)
    if overrides:
        data = apply_overrides(data, overrides)
    source = str(path) if path is not None and path.exists() else "defaults"
    if overrides:
        source += " + --set"
    return validate_dict(data, source)
