"""`.factory/plan.json`: what `forge plan --write` last put into training-config.json, so that the
next plan can tell the user's own values from its own (forge.commands.plan.explicit_from_files)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from forge.records.base import Record


class PlanRecord(Record):
    REMAKE: ClassVar[str] = "delete .factory/plan.json and rerun `forge plan --write`"

    written: dict[str, Any] = Field(default_factory=dict)  # "section.key" -> the value written

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        # version 0: the same {"written": {...}} without schema_version (before records)
        return data if version in (0, cls.SCHEMA_VERSION) else None
