"""The truncation refusal names the dropped examples' own lengths (QA: it named the minimum over
every example, "raise model.max_seq_length above 27" for max_seq_length 256)."""

from __future__ import annotations

from types import SimpleNamespace

from forge.config import validate_dict
from forge.plan.refusals import _truncation
from forge.plan.stats import DataStats


def _refusals(prompt_lengths, seq=256, allowed=0.0):
    cfg = validate_dict(
        {"model": {"max_seq_length": seq}, "training": {"max_dropped_fraction": allowed}, "dataset": {}}
    )
    data = DataStats(
        train_examples=len(prompt_lengths),
        lengths=[n + 10 for n in prompt_lengths],
        prompt_lengths=list(prompt_lengths),
        measured=len(prompt_lengths),
        measured_with="tokenizer of m",
    )
    plan = SimpleNamespace(refusals=[], warnings=[])
    _truncation(plan, cfg, data)
    return plan.refusals


def test_the_fix_is_above_the_dropped_examples_not_the_shortest_prompt():
    (r,) = _refusals([27, 40, 300, 512, 280])
    assert "between tokens 280 and 512" in r.message and "3/5 examples" in r.message
    assert "raise model.max_seq_length above 512 (above 280 keeps the first of them)" in r.fix
    assert "27" not in r.message + r.fix


def test_one_dropped_length():
    (r,) = _refusals([300, 300, 300])
    assert r.message.startswith("all examples") and "at token 300" in r.message
    assert "raise model.max_seq_length above 300," in r.fix
