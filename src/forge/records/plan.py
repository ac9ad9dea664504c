"""`.factory/plan.json`: which values of training-config.json forge wrote and nobody chose, so that
`forge plan` can tell the user's own values from its own (forge.plan.choices, the rule).

Written by `forge init` (the template's defaults it wrote; the keys a flag chose) and by
`forge plan --write` (everything it left in the file, sorted into forge's and the user's).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from forge.records.base import Record


class PlanRecord(Record):
    REMAKE: ClassVar[str] = "delete .factory/plan.json and rerun `forge plan --write`"

    # "section.key" -> the value forge put into the file and nobody chose (init's template
    # default, plan --write's value); while the file still holds it, the plan may replace it
    written: dict[str, Any] = Field(default_factory=dict)
    # "section.key" -> how the user chose it ("forge init --model", "forge plan --set", ...)
    chosen: dict[str, str] = Field(default_factory=dict)
    # True: `written` holds every value forge wrote into the file, from `forge init` on (any other
    # value is the user's). False: a record of an older forge (only plan --write's values) or none:
    # other values equal to the template's defaults count as forge's (forge.plan.choices)
    complete: bool = False

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        # version 0: the same {"written": {...}} without schema_version (before records); version 1
        # without chosen/complete (an older forge) reads as an incomplete record
        return data if version in (0, cls.SCHEMA_VERSION) else None
