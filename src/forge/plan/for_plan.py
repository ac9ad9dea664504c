"""The resolver as `forge plan` calls it: the data measured with the tokenizer of the model the
plan is for, and what `--write` changes in the config file.

The model a plan chooses (no model.name of the user's: the VRAM table, or the embedded
builtin:gemma-3-270m on a CPU) depends on the hardware and the number of examples, never on the
token lengths; so the plan resolves once with the data as measured for the configured model and,
when it chose another model, measures again with that model's tokenizer and resolves again
(the same choice: the same inputs). check and train resolve the configured model, measured with
its own tokenizer (forge.plan.for_run): one resolver, one measure, for all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forge.config import ForgeConfig
from forge.models.facts import ModelFacts
from forge.plan.settings import Plan
from forge.plan.stats import DataStats


def plan_project(
    project,
    cfg: ForgeConfig,
    hardware,
    explicit: set[str],
    *,
    stats: DataStats | None = None,
    facts: ModelFacts | None = None,
    vram_gb: float | None = None,
) -> Plan:
    """The plan of `project`, its data measured for the model it plans (`stats`/`facts`: as already
    gathered for the configured model); `plan.data["measured_for"]` names that model."""
    from forge.models.facts import read_facts
    from forge.plan.measure import gather_stats
    from forge.plan.resolve import resolve

    facts = facts or read_facts(cfg.model.name)
    if stats is None:
        stats = gather_stats(project, cfg, facts)

    def once(stats, facts):
        return resolve(cfg, stats, hardware, explicit=explicit, facts=facts, vram_gb=vram_gb, root=project.root)

    result = once(stats, facts)
    planned = result.settings["model.name"].value
    if planned != facts.name:  # the plan chose another model: measure with its tokenizer
        facts = read_facts(planned)
        measured = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": planned})})
        result = once(gather_stats(project, measured, facts), facts)
    result.data["measured_for"] = result.settings["model.name"].value
    return result


def name_yours(result: Plan, yours: dict[str, str]) -> None:
    """Each kept setting's reason says why it is the user's (forge.plan.choices)."""
    for key, s in result.settings.items():
        if s.source != "explicit" or key not in yours:
            continue
        differs = s.default is not None and s.default != s.value
        s.reason = f"yours ({yours[key]}); kept" + (f" (plan: {_show(s.default)})" if differs else "")


def _show(v: Any) -> str:
    import json

    return v if isinstance(v, str) else json.dumps(v)


MISSING = object()


@dataclass
class WriteReport:
    """What `forge plan --write` did to the file: each changed key (old -> new, why), each kept
    setting of the user's (why yours; the plan's value), and how many already had the plan's value."""

    file: str
    changed: list[dict] = field(default_factory=list)  # key, old, absent (not in the file before), new, why
    kept: list[dict] = field(default_factory=list)  # key, value, plan, why
    unchanged: list[str] = field(default_factory=list)  # plan's keys the file already held

    def to_dict(self) -> dict:
        return {"file": self.file, "changed": self.changed, "kept": self.kept, "unchanged": self.unchanged}


def planned_file(result: Plan, raw: dict, overrides: list[str]) -> dict:
    """The config file as --write leaves it: the plan's values and this call's --set values."""
    from forge.config import apply_overrides

    new = result.apply_to(raw)
    if overrides:
        new = apply_overrides(new, overrides)  # a --set with --write is the user's value, kept from now on
    new.setdefault("$schema", "./training-config.schema.json")
    return new


def write_report(file: str, result: Plan, raw: dict, new: dict, yours: dict[str, str]) -> WriteReport:
    from forge.plan.choices import flatten

    before, after = flatten(raw), flatten(new)
    report = WriteReport(file=file)
    for key, value in after.items():
        old = before.get(key, MISSING)
        if old is not MISSING and old == value:
            continue
        s = result.settings.get(key)
        why = "your --set" if yours.get(key) == "--set" else (s.reason if s else "")
        absent = old is MISSING
        report.changed.append({"key": key, "old": None if absent else old, "absent": absent, "new": value, "why": why})
    changed = {c["key"] for c in report.changed}
    for key, s in result.settings.items():
        if key in changed:
            continue
        if s.source == "explicit":
            why = yours.get(key, "yours")
            report.kept.append(
                {"key": key, "value": s.value, "plan": s.default, "why": "your --set" if why == "--set" else why}
            )
        elif key in after:
            report.unchanged.append(key)
    return report
