"""A plan whose single row is over the budget (but under the card) says what can still make room:
the OOM backoff cannot halve one row, so the fix is a shorter row, not a smaller micro-batch
(the 27B-it at 24 GB, H100 2026-12-07: 21.15 GB planned against a 21.12 GB budget; it used 18.4)."""

from __future__ import annotations

from bench.common import make_chat, write_jsonl
from bench.tiers import plan_row

from forge.config import validate_dict
from forge.data import load_conversations
from forge.models.facts import read_facts
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.measure import stats_for
from forge.plan.resolve import resolve

MODEL = "unsloth/gemma-3-27b-it"


def plan_on(card_gb: float, train_file, model: str = MODEL):
    hw = HardwareInfo(torch_version="2.11.0", cuda_version="13.0", ram_gb=128, unsloth=True,
                      gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 79.2, "9.0", True, limit_gb=card_gb)])  # fmt: skip
    cfg = validate_dict({"model": {"name": model}, "dataset": {"chat_template": "gemma-3"}})
    facts = read_facts(model)
    stats = stats_for(load_conversations(train_file), cfg, facts)
    return resolve(cfg, stats, hw, explicit={"model.name", "dataset.chat_template"}, facts=facts)


def test_one_row_over_the_budget_names_the_row_length(tmp_path):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, make_chat(600))
    row = plan_row(MODEL, 24, data)
    one = row["estimate_total_gb"] - 0.01  # a card whose budget (88%) sits just under one row's estimate
    p = plan_on(one / 0.88 * 0.999, data)
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
        p = plan_on(card, data, model)
        assert not [r for r in p.refusals if r.kind == "memory"], (model, card, p.refusals)
        assert p.memory.total_gb <= p.budget_gb, (model, card, p.memory.total_gb, p.budget_gb)
