"""The recipe's final eval runs only when no eval happened at the last step (forge.train.recipe).

2026-12-01 (QA): alpaca on builtin:tiny-llama, eval_steps 3, max_steps 5: two identical eval rows
at step 5 in metrics/training-history.jsonl and eval_count 3, fresh and resumed from step 3. The
recipe evaluated whenever `global_step % eval_steps` was not 0, but transformers 5 already
evaluates at an off-cadence final step (DefaultFlowCallback.on_step_end). Decided now from the
Trainer's log_history, which a resume restores from the checkpoint.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from forge.train.fit import last_eval_step
from forge.train.recipe import Recipe


def _eval(step: int) -> dict:
    return {"eval_loss": 7.3, "eval_runtime": 0.1, "eval_samples_per_second": 80.0, "epoch": 0.01, "step": step}


def _train(step: int) -> dict:
    return {"loss": 7.3, "grad_norm": 0.2, "learning_rate": 1e-4, "epoch": 0.01, "step": step}


def _recipe(global_step: int, log_history: list, *, eval_steps: int | None = 3, eval_ds=(), signal_at=None):
    r = Recipe.__new__(Recipe)  # the decision only: no project, no model
    r.eval_ds = eval_ds
    r.plan = SimpleNamespace(eval_steps=eval_steps)
    r.callback = SimpleNamespace(stopped_by_signal_at=signal_at)
    r.trainer = SimpleNamespace(state=SimpleNamespace(global_step=global_step, log_history=log_history))
    return r


FRESH_5 = [_train(1), _train(2), _train(3), _eval(3), _train(4), _train(5), _eval(5)]


@pytest.mark.parametrize(
    "global_step, history, missing",
    [
        (5, FRESH_5, False),  # transformers 5 evaluated at the off-cadence last step itself
        (5, FRESH_5[:-1], True),  # an older Trainer stopped at 5 without an eval
        (6, [*FRESH_5, _train(6), _eval(6)], False),  # the last step on the cadence
        (2, [_train(1), _train(2)], True),  # a run shorter than eval_steps
        (5, [_eval(3), _train(4), _train(5), _eval(5), {"train_runtime": 1.0, "step": 5}], False),  # summary last
        # a resume from checkpoint-3: its log_history (eval at 3) restored, the Trainer's own eval at 5
        (5, [_train(3), _eval(3), _train(4), _train(5), _eval(5)], False),
        # a finished checkpoint loaded without training (load_finished) whose final eval a signal cut
        # short (save_stopped_eval): its restored state has no eval at its step
        (5, [_train(3), _eval(3), _train(4), _train(5)], True),
    ],
)
def test_final_eval_only_where_the_last_step_has_none(global_step, history, missing):
    assert _recipe(global_step, history).final_eval_missing() is missing


def test_no_final_eval_without_eval_or_after_a_signal():
    assert _recipe(2, [_train(2)], eval_ds=None).final_eval_missing() is False
    assert _recipe(2, [_train(2)], eval_steps=None).final_eval_missing() is False
    # a signal stopped the run at step 4: it checkpoints and exits (no stats), no eval to wait for
    assert _recipe(4, FRESH_5[:5], signal_at=4).final_eval_missing() is False


def test_last_eval_step_reads_the_trainer_s_log_history():
    assert last_eval_step([]) is None and last_eval_step(None) is None
    assert last_eval_step([_train(1), _train(2)]) is None
    assert last_eval_step(FRESH_5) == 5
    assert last_eval_step([*FRESH_5, _train(6), {"train_runtime": 3.0, "train_loss": 7.0, "step": 6}]) == 5
