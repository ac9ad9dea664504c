"""How often to evaluate and on how many val examples, so that evals cost about a tenth of training.

The cost model, in one line: an eval example costs a forward pass, at most half of what a
training example costs (forward + backward, about three forwards: a half errs high), so evals
over a run cost `evals x eval_samples x 0.5` training examples, against `steps x effective batch`
for training. Both scale with the same step time, which is why the ratio needs no clock: a slow
model makes training and eval slow alike. Holding the ratio at EVAL_SHARE gives

    eval_samples / eval_steps <= EVAL_SHARE / 0.5 x examples per optimizer step

The plan aims at about ten evals a run; where the val split is too large for that, each eval
scores a deterministic sample (forge.train.settings.RunSettings.sample_val); where even
MIN_EVAL_SAMPLES per eval would cost too much, evals get rarer instead (at least one, at the end).
The issue's measurement: 999 val rows, 10 steps of 8 examples: the old cadence evaluated all 999
at every step (about 60x the training work); this one scores 32 at step 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EVAL_SHARE = 0.1  # of training time, by default
FORWARD_SHARE = 0.5  # an eval example's cost in training examples (forward only; errs high)
TARGET_EVALS = 10
MIN_EVAL_SAMPLES = 32  # below this an eval loss is too noisy to compare (unless val is smaller)


def cadence(total_steps: int, target_evals: int = TARGET_EVALS) -> int:
    """Every how many steps for about `target_evals` evals (or auto saves) a run: the one rule."""
    return max(1, round(total_steps / target_evals))


@dataclass
class EvalBudget:
    eval_steps: int | None
    eval_samples: int
    reason: str
    samples_reason: str

    def cost_share(self, total_steps: int, examples_per_step: float) -> float:
        """Eval work over training work, for the chosen values."""
        if not self.eval_steps or not total_steps:
            return 0.0
        evals = max(1, total_steps // self.eval_steps)
        return evals * self.eval_samples * FORWARD_SHARE / max(total_steps * examples_per_step, 1e-9)


def eval_budget(total_steps: int, examples_per_step: float, val_examples: int, share: float = EVAL_SHARE) -> EvalBudget:
    if val_examples <= 0:
        return EvalBudget(None, 0, "no val split: no eval", "no val split")
    total_steps = max(1, total_steps)
    per_step = max(examples_per_step, 1e-9)
    every = cadence(total_steps)
    affordable = math.floor(share / FORWARD_SHARE * per_step * every)
    floor = min(val_examples, MIN_EVAL_SAMPLES)
    samples = max(floor, min(val_examples, affordable))
    if samples > affordable:  # even the floor costs too much at this cadence: evaluate less often
        every = math.ceil(samples * FORWARD_SHARE / (share * per_step))
    every = min(every, total_steps)
    evals = max(1, total_steps // every)
    cost = evals * samples * FORWARD_SHARE / (total_steps * per_step)
    why_steps = (
        f"{evals} eval(s) over {total_steps} steps of {per_step:g} examples, each scoring {samples} val example(s): "
        f"about {100 * cost:.0f}% of training time (aim: {100 * share:g}%)"
    )
    if samples < val_examples:
        why_samples = f"a fixed sample of {samples} of the {val_examples} val examples keeps each eval within budget"
    else:
        why_samples = f"all {val_examples} val examples fit the budget"
    return EvalBudget(every, samples, why_steps, why_samples)


def eval_without_val(config) -> tuple[str, str] | None:
    """(message, fix) where the config asks for evals every N steps but names no val split: the run
    trains without a single eval, as it did without a word before (`training.eval_steps: 5` with
    `dataset.val_path: null`); None otherwise ("auto" follows the split, null asks for none)."""
    every, samples = config.training.eval_steps, config.training.eval_samples
    if config.dataset.val_path is not None:
        return None
    asked = [f"training.eval_steps is {every}" if isinstance(every, int) else None]
    asked.append(
        f"training.eval_samples is {samples}" if isinstance(samples, int) and not isinstance(samples, bool) else None
    )
    asked = [a for a in asked if a]
    if not asked:
        return None
    return (
        f"{' and '.join(asked)}, but dataset.val_path is null: the run evaluates nothing (no eval loss, no gate)",
        "set dataset.val_path to a val split, or set training.eval_steps to null",
    )
