"""The data refusals of `forge plan`: training's own validation of both splits, asked before planning.

check lists every bad line itself (forge.check.before); plan used to swallow the same problems
(forge.plan.measure.gather_stats reads a bad split as no data) and say "ready" over 0 examples.
This asks forge.train.prepare.validate_data, the step `forge train` refuses with before any model
loads, so plan's refusal carries train's words: the file:line of each bad record and the fix.
"""

from __future__ import annotations

import logging

from forge.config import ForgeConfig
from forge.errors import ForgeError
from forge.plan.settings import Refusal
from forge.project import Project


def data_refusals(project: Project, cfg: ForgeConfig) -> list[Refusal]:
    from forge.train.prepare import validate_data
    from forge.train.settings import RunSettings

    try:
        validate_data(project, RunSettings(cfg, 1), logging.getLogger("forge.plan"))
    except ForgeError as e:
        # the message opens with the key (a missing split) or the split's path (a bad one)
        val = ("dataset.val_path", f"{cfg.dataset.val_path}:") if cfg.dataset.val_path else ("dataset.val_path",)
        key = "dataset.val_path" if e.message.startswith(val) else "dataset.path"
        return [Refusal("data", key, e.message, e.fix or "")]
    return []
