"""Reading a config: the file, `--config`'s path rule, and defaults <- file <- --set validated together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from forge.config.errors import ConfigError, describe_all
from forge.config.key_lines import key_lines
from forge.config.overrides import apply_overrides, parse_override
from forge.config.sections import ForgeConfig
from forge.config.strict import loose_values
from forge.errors import EXIT_USAGE, ForgeError


def validate_dict(data: dict[str, Any], source: str = "training-config.json") -> ForgeConfig:
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold one JSON object"], source, file_fix=_object_fix(source))
    try:
        return ForgeConfig.model_validate(data)
    except ValidationError as e:
        problems, keys = describe_all(e.errors())
        raise ConfigError(problems, source, keys=keys) from None


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
    return validate_layers(load_config_dict(path), path, overrides or [])


def validate_layers(raw: dict[str, Any], path: Path | None, overrides: list[str]) -> ForgeConfig:
    """The file's dict `raw` with `overrides` on top, validated; a ConfigError says which of them
    holds each problem, and the file's problems carry their line (forge.config.key_lines)."""
    data = apply_overrides(raw, overrides) if overrides else raw
    has_file = path is not None and path.exists()
    source = str(path) if has_file else "defaults"
    source += " + --set" if overrides else ""
    refused: ConfigError | None = None
    try:
        cfg = validate_dict(data, source)
    except ConfigError as e:
        if e.file_fix is not None:
            raise
        refused = e
    # the file's values are JSON, so each must be of its key's type (forge.config.strict); a --set
    # value is a string of the command line, read as today, and a key refused above is said once
    skip = {".".join(parse_override(item)[0]) for item in overrides}
    skip |= {k for k in (refused.keys if refused else []) if k}
    loose, loose_keys = loose_values(data, skip)
    if refused is None and not loose:
        return cfg
    if refused is None:
        refused = ConfigError(loose, source, keys=loose_keys)
    elif loose:
        refused = ConfigError(refused.problems + loose, source, keys=refused.keys + loose_keys)
    raise _located(refused, path if has_file else None, overrides) from None


def _located(e: ConfigError, path: Path | None, overrides: list[str]) -> ConfigError:
    # a bad --set used to read "training-config.json: training.learning_rate: ..." (plan) or
    # "FILE + --set" with no file named (check, train): the user searched the file for the wrong value
    set_keys = [".".join(parse_override(item)[0]) for item in overrides]

    def from_set(key: str | None) -> bool:  # the --set key itself, a key under it, or its section
        return key is not None and any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in set_keys)

    try:
        lines = key_lines(path.read_text(encoding="utf-8-sig")) if path is not None else {}
    except (OSError, UnicodeDecodeError):
        lines = {}
    on_set = [from_set(k) for k in e.keys]
    only_set = bool(overrides) and all(on_set)
    problems, file_lines = [], []
    for text, key, set_here in zip(e.problems, e.keys, on_set, strict=True):
        line = None if set_here else _line_of(lines, key)
        if line is not None:
            file_lines.append(line)
            text = text.replace(f"{key}:", f"{key} (line {line}):", 1)
        problems.append(f"--set {text}" if set_here and not only_set else text)
    if only_set:
        source, file = "--set", None
    elif path is not None and not any(on_set) and (not overrides or None not in e.keys):
        source, file = str(path), str(path)
    else:  # some of each, or a rule across keys that either may have broken
        source, file = (str(path) if path is not None else "defaults") + (" + --set" if overrides else ""), None
    first = next((k for k in e.keys if k is not None), None)
    out = ConfigError(problems, source, keys=e.keys, line=file_lines[0] if file and file_lines else None)
    out.key = first
    what = f"correct {first}" if len(problems) == 1 and first else "correct the keys above"
    if file:
        out.file = file
        at = ", ".join(str(n) for n in sorted(set(file_lines)))
        where = f" (line{'s' if len(file_lines) > 1 else ''} {at} of {path})" if file_lines else f" in {path}"
        out.fix = f"{what}{where}; `forge schema` documents every key"
    elif only_set:
        out.fix = f"{what} in your --set; `forge schema` documents every key"
    return out


def _line_of(lines: dict[tuple[str, ...], int], key: str | None) -> int | None:
    """The line of `key` in the file, or of the nearest section above it that is there."""
    if key is None:
        return None
    parts = tuple(key.split("."))
    while parts:
        if parts in lines:
            return lines[parts]
        parts = parts[:-1]
    return None
