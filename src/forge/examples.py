"""Example projects shipped with forge (`forge init --example NAME`, `forge demo`).

PLACEHOLDER (foundation): the demo work adds the built-in domain dataset here.
"""

from __future__ import annotations

from forge.errors import UsageError
from forge.project import Project

EXAMPLES: dict[str, str] = {}


def _require(name: str) -> None:
    if name not in EXAMPLES:
        known = ", ".join(sorted(EXAMPLES)) or "none yet"
        raise UsageError(f"unknown example {name!r}", f"choose one of: {known}")


def example_config_overrides(name: str, model: str | None) -> dict:
    _require(name)
    return {}


def write_example_data(name: str, project: Project) -> list[str]:
    _require(name)
    return []
