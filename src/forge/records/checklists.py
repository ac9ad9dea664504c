"""The checklists `forge check` (before training) and `forge verify` (after) print and write as
JSON: one Item per line of the list, grouped in sections, ready when none failed (torch-free).

An item whose input is another run's (forge verify's quality checks read training-stats.json,
which a refused, failed or still running later run leaves behind: forge.check.staleness) is
`stale`: it fails, so the list is not ready, with whose input it is in `detail` and the fix; the
flag tells it from a check that ran and failed. Older readers see a failed item, as they should.

`Checklist` is what the check wing builds (it also keeps the loaded config and the probed
hardware for the steps after it); `ChecklistRecord` is its JSON layout, the contract that
`--json` readers (the web UI, agents) rely on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from forge.records.base import Record

STATUSES = ("ok", "warn", "fail", "skip")


@dataclass
class Item:
    section: str
    name: str
    status: str  # ok | warn | fail | skip
    detail: str = ""
    fix: str | None = None
    stale: bool = False  # its input is another run's: not judged (status fail), rerun to judge it


class ChecklistRecord(Record):
    """`forge check --json` / `forge verify --json`: {ready, sections: {name: [item, ...]}, ...}."""

    SCHEMA_VERSION: ClassVar[int] = 1
    REMAKE: ClassVar[str] = "rerun `forge check --json` (or `forge verify --json`)"

    ready: bool
    sections: dict[str, list[dict[str, Any]]]
    hardware: dict[str, Any] | None = None
    data: dict[str, Any] = {}


@dataclass
class Checklist:
    items: list[Item] = field(default_factory=list)
    config: Any = None  # the ForgeConfig, once loaded
    hardware: Any = None  # the probed HardwareInfo
    data: dict = field(default_factory=dict)
    plan: Any = None  # the resolver's answer the checks came from (forge check)

    def add(
        self, section: str, name: str, status: str, detail: str = "", fix: str | None = None, stale: bool = False
    ) -> Item:
        item = Item(section, name, status, detail, fix, stale)
        self.items.append(item)
        return item

    def name_folder(self, root: Any, absolute: bool = False) -> Checklist:
        """The list with its fixes' command hints naming the project folder (forge.hints), as the reader
        (the command line: relative to the current folder; the web UI: absolute) must paste them."""
        from forge.hints import name_folder

        for item in self.items:
            item.fix = name_folder(item.fix, root, absolute)
        return self

    @property
    def ready(self) -> bool:
        return not any(i.status == "fail" for i in self.items)

    @property
    def stale(self) -> list[Item]:
        return [i for i in self.items if i.stale]

    def sections(self) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for i in self.items:
            out.setdefault(i.section, []).append(i)
        return out

    def record(self) -> ChecklistRecord:
        return ChecklistRecord(
            ready=self.ready,
            sections={s: [asdict(i) for i in items] for s, items in self.sections().items()},
            hardware=self.hardware.to_dict() if self.hardware else None,
            data=self.data,
        )

    def to_dict(self) -> dict:
        d = self.record().model_dump(mode="json")
        if self.plan is not None:
            d["plan"] = self.plan.to_dict()
        return d
