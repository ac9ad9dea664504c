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
