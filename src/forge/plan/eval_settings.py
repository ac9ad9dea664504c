"""The plan's eval settings (eval_steps, eval_samples, save_steps) and the evals' share of its time.

Split out of forge.plan.resolve (its step 6), which calls both; the cost model is forge.plan.eval_budget.
"""

from __future__ import annotations

from forge.config import ForgeConfig
from forge.plan.eval_budget import cadence, eval_budget
from forge.plan.settings import Builder, Plan, Setting


def eval_settings(b: Builder, config: ForgeConfig, total_steps: int, per_step: float, n_val: int) -> None:
    """eval_steps / eval_samples / save_steps: the plan's where the config says "auto"."""
    t = config.training
    budget = eval_budget(total_steps, per_step, n_val if config.dataset.val_path else 0)
    if t.eval_steps is None and "training.eval_steps" in b.explicit:
        b.settings["training.eval_steps"] = Setting("training.eval_steps", None, "explicit", "set by you: no eval")
        every = None
    else:
        every = b.set("training.eval_steps", budget.eval_steps, budget.reason)
    samples = budget.eval_samples if budget.eval_steps else None
    if t.eval_samples is None and "training.eval_samples" in b.explicit:
        b.settings["training.eval_samples"] = Setting("training.eval_samples", None, "explicit", "set by you: all")
    else:
        b.set("training.eval_samples", samples, budget.samples_reason)
    save_default = every or cadence(total_steps)
    b.set("training.save_steps", save_default, "a resumable checkpoint at every eval" if every else "ten a run")


def eval_time(p: Plan, per_step: float) -> None:
    """The evals' share of the time estimate: the ETA includes them."""
    every = p.settings["training.eval_steps"].value
    samples = p.settings["training.eval_samples"].value
    if not p.seconds or not isinstance(every, int) or not every:
        return
    n_val = p.data.get("val_examples") or 0
    scored = samples if isinstance(samples, int) else n_val
    evals = max(1, p.total_steps // every)
    from forge.plan.eval_budget import FORWARD_SHARE

    per_example = p.seconds / max(p.total_steps * per_step, 1e-9)
    p.eval_seconds = evals * scored * FORWARD_SHARE * per_example
    p.seconds += p.eval_seconds
