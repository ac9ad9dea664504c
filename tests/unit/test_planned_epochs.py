"""The status's total_epochs under max_steps is the fraction of an epoch the run covers, not
transformers' count rounded up to whole epochs (QA: a 3-step run read "epoch 0.10 / 1")."""

from __future__ import annotations

from types import SimpleNamespace

from forge.train.callbacks import planned_epochs


def test_max_steps_gives_the_fraction_of_an_epoch():
    args = SimpleNamespace(max_steps=3, gradient_accumulation_steps=2)
    state = SimpleNamespace(num_train_epochs=1)
    assert planned_epochs(args, state, list(range(60))) == 0.1  # 30 optimizer steps an epoch


def test_epochs_without_max_steps_and_no_length_keep_transformers_count():
    state = SimpleNamespace(num_train_epochs=3)
    assert planned_epochs(SimpleNamespace(max_steps=-1, gradient_accumulation_steps=1), state, [1, 2]) == 3
    assert planned_epochs(SimpleNamespace(max_steps=5, gradient_accumulation_steps=1), state, iter([])) == 3


def test_the_total_is_the_epoch_transformers_reports_at_the_last_step():
    """270 batches, accumulation 8: 34 steps an epoch, the last one of 6 batches. After step 3
    transformers says epoch 24/270 = 0.0889; the total said 3/34 = 0.0882, less than the epoch
    reached ("epoch 0.09 / 0.0882")."""
    state = SimpleNamespace(num_train_epochs=1)
    batches = list(range(270))
    for max_steps, reached in ((3, 24 / 270), (34, 1.0), (36, 1 + 16 / 270), (68, 2.0)):
        args = SimpleNamespace(max_steps=max_steps, gradient_accumulation_steps=8)
        assert planned_epochs(args, state, batches) == round(reached, 4), max_steps
