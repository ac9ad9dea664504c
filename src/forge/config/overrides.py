"""`--set key.path=value`: parsed, and applied to a config's raw dict before it is validated."""

from __future__ import annotations

import json
from typing import Any

from forge.config.errors import ConfigError


def parse_override(item: str) -> tuple[list[str], Any]:
    """`training.learning_rate=1e-4` -> (['training', 'learning_rate'], 1e-4).

    The value is read as JSON when it parses (numbers, true/false/null, lists), else as a string,
    so `model.name=builtin:tiny-llama` needs no quotes.
    """
    if "=" not in item:
        raise ConfigError([f"--set {item!r}: expected key.path=value, e.g. training.learning_rate=1e-4"], "--set")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError([f"--set {item!r}: empty key"], "--set")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = json.loads(json.dumps(data))  # deep copy; never mutate the caller's dict
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for p in parts[:-1]:
            if not isinstance(node.get(p, {}), dict):
                raise ConfigError([f"--set {item!r}: {p} is not a section"], "--set")
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return data
