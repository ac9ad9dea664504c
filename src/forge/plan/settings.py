"""The resolver's answer: every setting with its value, where it came from and why; and what
would stop training (a Refusal names the key and the fix, so `forge check` and `forge train`
print the same sentence)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from forge.config import ForgeConfig
from forge.models.shape import ModelShape
from forge.plan.memory import MemoryEstimate

SECTIONS = ("model", "lora", "training", "dataset", "save", "evaluation")
# "auto" values resolved again by every run (they follow the model and the data): `forge plan
# --write` leaves them "auto" in the file rather than pinning today's answer
RESOLVED_EACH_RUN = {"dataset.chat_template", "dataset.min_samples"}


@dataclass
class Setting:
    key: str  # section.key
    value: Any
    source: str  # plan | explicit
    reason: str
    default: Any = None


@dataclass
class Refusal:
    """Why `forge train` would not start: the same text in check (a failed item) and train (the error)."""

    kind: str  # config | template | truncation | memory | lora_targets | sizes | samples
    key: str  # the config key at fault
    message: str
    fix: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "message": self.message, "fix": self.fix}


@dataclass
class Plan:
    settings: dict[str, Setting]
    backend: str
    hardware: str
    shape: ModelShape | None
    memory: MemoryEstimate | None
    tokens_per_micro_batch: int
    effective_batch_tokens: int
    steps_per_epoch: int
    total_steps: int
    tokens_per_second: float | None
    seconds: float | None
    padding_efficiency: float
    truncated_examples: int
    notes: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    warnings: list[Refusal] = field(default_factory=list)  # would not stop training, worth saying
    model: dict | None = None  # ModelFacts.to_dict() of the model the plan is for
    budget_gb: float | None = None  # the GPU memory the plan fits into, and why
    budget_reason: str = ""
    eval_seconds: float | None = None  # of all evals together, in `seconds`
    examples_per_step: float = 0.0  # examples of one optimizer step (forge.plan.explain)
    seconds_range: tuple | None = None  # (low, high): on a CPU, idle to the load measured now
    hardware_load: float | None = None  # the load average the high end was scaled by

    @property
    def ready(self) -> bool:
        return not self.refusals

    def value(self, key: str) -> Any:
        return self.settings[key].value

    def updates(self) -> dict[str, dict[str, Any]]:
        """The plan's own values as nested config sections (explicit ones left out)."""
        out: dict[str, dict[str, Any]] = {}
        for s in self.settings.values():
            if s.source == "plan" and s.key not in RESOLVED_EACH_RUN:
                section, key = s.key.split(".", 1)
                out.setdefault(section, {})[key] = s.value
        return out

    def apply_to(self, data: dict[str, Any]) -> dict[str, Any]:
        """A raw config dict with the plan's values written in; explicit values untouched."""
        out = json.loads(json.dumps(data))
        for section, values in self.updates().items():
            out.setdefault(section, {}).update(values)
        return out

    def to_dict(self) -> dict:
        return {
            "ready": self.ready,
            "backend": self.backend,
            "hardware": self.hardware,
            "settings": {
                k: {"value": s.value, "source": s.source, "reason": s.reason} for k, s in self.settings.items()
            },
            "memory": self.memory.to_dict() if self.memory else None,
            "memory_budget_gb": round(self.budget_gb, 2) if self.budget_gb else None,
            "memory_budget_reason": self.budget_reason,
            "model_shape": self.shape.to_dict() if self.shape else None,
            "model_facts": self.model,
            "tokens_per_micro_batch": self.tokens_per_micro_batch,
            "effective_batch_tokens": self.effective_batch_tokens,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "tokens_per_second": round(self.tokens_per_second) if self.tokens_per_second else None,
            "estimated_seconds": round(self.seconds) if self.seconds else None,
            "estimated_eval_seconds": round(self.eval_seconds) if self.eval_seconds else None,
            "estimated_seconds_range": [round(t) for t in self.seconds_range] if self.seconds_range else None,
            "examples_per_step": round(self.examples_per_step, 1),
            "padding_efficiency": round(self.padding_efficiency, 3),
            "truncated_examples": self.truncated_examples,
            "data": self.data,
            "notes": self.notes,
            "refusals": [r.to_dict() for r in self.refusals],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def explicit_keys(config: ForgeConfig) -> set[str]:
    """section.key of every value the config was given (file or --set), from pydantic's fields_set."""
    out = set()
    for section in SECTIONS:
        sec = getattr(config, section)
        if section in config.model_fields_set:
            out |= {f"{section}.{k}" for k in sec.model_fields_set}
    return out


def configured_keys(config: ForgeConfig) -> set[str]:
    """Every key, as a run sees the config: what it says is what trains (check and train).

    Values still "auto" are left to the resolver: asking for "auto" is asking for the plan.
    """
    out = set()
    for section in SECTIONS:
        sec = getattr(config, section)
        out |= {f"{section}.{k}" for k, v in sec.model_dump().items() if v != "auto"}
    return out


class Builder:
    def __init__(self, config: ForgeConfig, explicit: set[str]):
        self.config = config
        self.explicit = explicit
        self.settings: dict[str, Setting] = {}

    def current(self, key: str) -> Any:
        section, name = key.split(".", 1)
        return getattr(getattr(self.config, section), name)

    def set(self, key: str, value: Any, reason: str) -> Any:
        """Record the plan's value unless the user set the key; returns the value in force."""
        if key in self.explicit:
            kept = self.current(key)
            note = "set by you; kept" + (f" (plan: {value!r})" if kept != value else "")
            self.settings[key] = Setting(key, kept, "explicit", note, value)
            return kept
        self.settings[key] = Setting(key, value, "plan", reason)
        return value


def refuse(p: Plan, kind: str, key: str, message: str, fix: str) -> None:
    """Add a refusal: training would fail (check reports it, train stops before loading)."""
    p.refusals.append(Refusal(kind, key, message, fix))


def warn(p: Plan, kind: str, key: str, message: str, fix: str) -> None:
    """Add a warning: said by check, logged by train, never stops it."""
    p.warnings.append(Refusal(kind, key, message, fix))
