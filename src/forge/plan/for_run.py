"""The resolver as `forge train` calls it: before any weights load, on the validated splits.

`resolve_for_run` gives the same answer `forge check` printed (forge.plan.resolve, as configured)
and raises its refusals as one ForgeError, so a run check called not ready never starts, and a
run check called ready is not refused here. `run_config` is the config the run then trains with:
its "auto" values replaced by the resolved ones (eval cadence and size, save cadence, the chat
template), so that the backend, the run file and the stats all see the same numbers.

For bench (and anyone planning a run in-process): `resolve_for_run(project, cfg, convs, val)`
and `run_config(plan, cfg)` are the whole interface.
"""

from __future__ import annotations

import logging

from forge.config import ForgeConfig
from forge.errors import EXIT_USAGE, ForgeError
from forge.plan.settings import Plan

# refusal kind -> the error kind the status file and the CLI report
ERROR_KIND = {
    "template": "template_mismatch",
    "truncation": "template_mismatch",
    "samples": "data",
    "memory": "config",
    "sizes": "config",
    "lora_targets": "config",
    "tokenizer": "config",
    "backend": "config",
    "fp8": "config",
    "model": "model_not_found",
    "seq_length": "config",
    "report_to": "config",
    "paths": "config",
}
# keys the run takes from the resolver where the config says "auto" (or null for the eval batch)
RUN_KEYS = (
    "training.eval_steps",
    "training.eval_samples",
    "training.save_steps",
    "dataset.chat_template",
)


class RunRefused(ForgeError):
    exit_code = EXIT_USAGE

    def __init__(self, plan: Plan):
        first = plan.refusals[0]
        lines = [r.message for r in plan.refusals]
        message = lines[0] if len(lines) == 1 else "training would not start:\n" + "\n".join(f"- {m}" for m in lines)
        super().__init__(message, "; ".join(dict.fromkeys(r.fix for r in plan.refusals if r.fix)))
        self.kind = ERROR_KIND.get(first.kind, "config")
        self.plan = plan


def resolve_for_run(
    cfg: ForgeConfig,
    train_convs: list,
    val_convs: list,
    *,
    log: logging.Logger | None = None,
    hardware=None,
    world_size: int = 1,
    tokenizer=None,
    project=None,
) -> Plan:
    """The resolved plan of this run; RunRefused when training would not start. `project`: the
    Project whose folder relative output paths are checked under (without it, only absolute ones)."""
    from forge.models.facts import read_facts
    from forge.plan.measure import stats_for
    from forge.plan.resolve import resolve

    if hardware is None:
        from forge.plan.hardware import probe

        hardware = probe()
    if hardware.has_gpu and world_size < len(hardware.gpus):  # the GPUs this run uses, not all of them
        hardware.gpus = hardware.gpus[: max(1, world_size)]
    facts = read_facts(cfg.model.name)
    stats = stats_for(train_convs, cfg, facts, tokenizer, val_conversations=val_convs, val_examples=len(val_convs))
    root = project.root if project is not None else None
    plan = resolve(cfg, stats, hardware, facts=facts, as_configured=True, root=root)
    if log is not None:
        for w in plan.warnings:
            log.warning("%s%s", w.message, f" ({w.fix})" if w.fix else "")
    if plan.refusals:
        raise RunRefused(plan)
    return plan


def run_config(plan: Plan, cfg: ForgeConfig) -> ForgeConfig:
    """`cfg` with its "auto" values replaced by the plan's (explicit values are never touched)."""
    sections: dict[str, dict] = {}
    for key in RUN_KEYS:
        s = plan.settings.get(key)
        section, name = key.split(".", 1)
        current = getattr(getattr(cfg, section), name)
        if s is None or s.source != "plan" or current != "auto":
            continue
        value = s.value
        if key == "training.eval_samples" and not isinstance(value, int):
            value = None  # all of val
        sections.setdefault(section, {})[name] = value
    if not sections:
        return cfg
    update = {sec: getattr(cfg, sec).model_copy(update=vals) for sec, vals in sections.items()}
    return cfg.model_copy(update=update)


def stats_line(plan: Plan) -> str:
    s = plan.settings
    parts = [f"{k} {s[k].value!r} ({s[k].reason})" for k in RUN_KEYS if k in s]
    return "resolved: " + "; ".join(parts)
