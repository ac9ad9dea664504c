"""A plan whose single row is over the budget (but under the card) says what can still make room:
the OOM backoff cannot halve one row, so the fix is a shorter row, not a smaller micro-batch
(the 27B-it at 24 GB, H100 2026-12-07: 21.15 GB planned against a 21.12 GB budget; it used 18.4)."""

from __future__ import annotations

from bench.common import make_chat, write_jsonl
from bench.tiers import plan_on, plan_row

from forge.plan.memory import USABLE_VRAM

MODEL = "unsloth/gemma-3-27b-it"


def test_one_row_over_the_budget_names_the_row_length(tmp_path):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, make_chat(600))
    row = plan_row(MODEL, 24, data)
    one = row["estimate_total_gb"] - 0.01  # a card whose budget sits just under one row's estimate
    p = plan_on(MODEL, one / USABLE_VRAM * 0.999, data)
    assert p.settings["training.per_device_train_batch_size"].value == 1
    assert p.memory.total_gb > p.budget_gb
    assert not [r for r in p.refusals if r.kind == "memory"], p.refusals  # under the card: not refused
    over = [w for w in p.warnings if w.kind == "memory"]
    assert over and over[0].key == "model.max_seq_length", over
    seq = p.settings["model.max_seq_length"].value
    assert "cannot go below one row" in over[0].message and f"lower model.max_seq_length (now {seq})" in over[0].fix
    assert not any("halve" in w.message for w in p.warnings)
    assert any("one row is the backoff's floor" in n for n in p.notes)


def test_the_seeds_tiers_fit_without_a_memory_warning(tmp_path):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, make_chat(600))
    for model, card in (("unsloth/gemma-3-4b-it", 8), ("unsloth/gemma-3-12b-it", 24), (MODEL, 48)):
        p = plan_on(model, card, data)
        assert not [r for r in p.refusals if r.kind == "memory"], (model, card, p.refusals)
        assert p.memory.total_gb <= p.budget_gb, (model, card, p.memory.total_gb, p.budget_gb)
