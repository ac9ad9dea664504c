"""The evaluate gate on literal numbers, the scoring helpers, and the baseline-mismatch refusal (no torch)."""

import json
import math

import pytest

from forge.evaluate.gate import GENERATION_TOLERANCE, apply_gate, deltas
from forge.evaluate.score import exact_match, normalize_answer, sample_indices, split_prompt, token_f1

BASE = {"val_loss": 2.0, "perplexity": math.exp(2.0), "token_f1": 0.30, "exact_match": 0.0}


def ft(**kw):
    d = {"val_loss": 1.8, "perplexity": math.exp(1.8), "token_f1": 0.30, "exact_match": 0.0}
    d.update(kw)
    return d


def test_passes_when_loss_improves_by_threshold_exactly():
    r = apply_gate(BASE, ft(val_loss=1.9), threshold=0.05)  # (2.0 - 1.9) / 2.0 = 5%
    assert r.passed and r.verdict == "pass" and r.reasons == []
    assert r.relative_improvement == pytest.approx(0.05)


def test_fails_when_loss_improves_less_than_threshold():
    r = apply_gate(BASE, ft(val_loss=1.95), threshold=0.05)
    assert not r.passed and r.verdict == "fail"
    assert "val loss 2.0000 -> 1.9500" in r.reasons[0] and "gate needs 5.0%" in r.reasons[0]


def test_fails_when_loss_gets_worse():
    r = apply_gate(BASE, ft(val_loss=2.5), threshold=0.0)
    assert not r.passed and r.relative_improvement == pytest.approx(-0.25)


def test_threshold_zero_accepts_equal_loss():
    assert apply_gate(BASE, ft(val_loss=2.0), threshold=0.0).passed


def test_generation_score_may_not_fall_beyond_tolerance():
    r = apply_gate(BASE, ft(token_f1=0.30 - GENERATION_TOLERANCE - 0.01), threshold=0.05)
    assert not r.passed and any(x.startswith("token_f1 fell") for x in r.reasons)
    ok = apply_gate(BASE, ft(token_f1=0.30 - GENERATION_TOLERANCE / 2), threshold=0.05)
    assert ok.passed


def test_exact_match_drop_fails_and_strict_tolerance():
    base = dict(BASE, exact_match=0.25)
    assert not apply_gate(base, ft(exact_match=0.1875), threshold=0.05).passed  # one of 16 answers lost
    assert not apply_gate(BASE, ft(token_f1=0.2999), threshold=0.05, tolerance=0.0).passed


def test_both_reasons_reported_together():
    r = apply_gate(BASE, ft(val_loss=1.99, token_f1=0.1), threshold=0.05)
    assert len(r.reasons) == 2


def test_nan_loss_fails_with_reason():
    r = apply_gate(BASE, ft(val_loss=float("nan")), threshold=0.05)
    assert not r.passed and "not a finite number" in r.reasons[0]


def test_unusable_baseline_fails():
    assert not apply_gate(dict(BASE, val_loss=None), ft(), threshold=0.05).passed


def test_generation_scores_absent_on_both_sides_are_skipped():
    r = apply_gate({"val_loss": 2.0}, {"val_loss": 1.0}, threshold=0.05)
    assert r.passed and r.deltas["token_f1"] is None


def test_generation_score_missing_on_one_side_fails():
    assert not apply_gate(BASE, {"val_loss": 1.0}, threshold=0.05).passed


def test_negative_threshold_rejected():
    with pytest.raises(ValueError):
        apply_gate(BASE, ft(), threshold=-0.1)


def test_deltas_and_to_dict():
    d = deltas(BASE, ft(token_f1=0.5))
    assert d["val_loss"] == pytest.approx(-0.2) and d["token_f1"] == pytest.approx(0.2)
    out = apply_gate(BASE, ft(), threshold=0.05).to_dict()
    assert out["verdict"] == "pass" and out["threshold"] == 0.05 and json.dumps(out)


# --- scoring helpers -----------------------------------------------------------------------------


def test_token_f1_and_exact_match():
    ref = "The Lumio Mini costs 39 EUR. (KB-106)"
    assert token_f1(ref, ref) == 1.0 and exact_match(ref, ref) == 1.0
    assert exact_match("the lumio mini costs 39 eur kb106", ref) == 1.0  # case, punctuation, articles
    assert token_f1("", ref) == 0.0 and token_f1("", "") == 1.0
    assert token_f1("Lumio Mini costs 49 EUR", ref) == pytest.approx(2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6))
    assert normalize_answer("  A  lamp, the BEST!  ") == "lamp best"


def test_sample_indices_even_and_deterministic():
    assert sample_indices(10, 0) == [] and sample_indices(3, 5) == [0, 1, 2]
    idx = sample_indices(32, 12)
    assert len(idx) == 12 and idx == sorted(set(idx)) and idx[0] == 0 and idx[-1] < 32


def test_split_prompt_takes_last_assistant_turn():
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ]
    prompt, ref = split_prompt(msgs)
    assert ref == "d" and len(prompt) == 3
    assert split_prompt([{"role": "user", "content": "x"}]) is None


# --- a baseline for another val file or model is refused, before any model loads -----------------


def _fake_baseline(project, **kw):
    from forge.config import load_config
    from forge.files import sha256_file

    cfg = load_config(project.config_file)  # the settings of this project's config, whatever init wrote
    data = {
        "model": "builtin:tiny-llama",
        "val_file": "data/splits/val.jsonl",
        "val_sha256": sha256_file(project.val_file),
        "settings": {
            "max_seq_length": cfg.model.max_seq_length,
            "generation_samples": cfg.evaluation.generation_samples,
            "max_new_tokens": cfg.evaluation.max_new_tokens,
            "chat_template": cfg.dataset.chat_template,
        },
        "val_loss": 2.0,
    }
    data.update(kw)
    project.baseline_file.write_text(json.dumps(data))


def _set_model(project, name):
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = name
    project.config_file.write_text(json.dumps(cfg))


def test_evaluate_refuses_baseline_of_another_val_file(project, capsys):
    from forge.cli import main

    _set_model(project, "builtin:tiny-llama")
    _fake_baseline(project, val_sha256="0" * 64)
    assert main(["evaluate", str(project.root)]) == 2
    err = capsys.readouterr().err
    assert "val file" in err and "000000000000" in err and "forge baseline" in err


def test_evaluate_refuses_baseline_of_another_model(project, capsys):
    from forge.cli import main

    _set_model(project, "builtin:tiny-gemma3")
    _fake_baseline(project)
    assert main(["evaluate", str(project.root)]) == 2
    err = capsys.readouterr().err
    assert "builtin:tiny-llama" in err and "builtin:tiny-gemma3" in err and "forge baseline" in err


def test_evaluate_without_baseline_says_run_baseline(project, capsys):
    from forge.cli import main

    assert main(["evaluate", str(project.root)]) == 1  # an earlier step's output missing: not ready (forge.errors)
    assert "forge baseline" in capsys.readouterr().err


def test_evaluate_without_adapter_says_train(project, capsys):
    from forge.cli import main

    _set_model(project, "builtin:tiny-llama")
    _fake_baseline(project)
    assert main(["evaluate", str(project.root)]) == 1  # as `forge export` without an adapter
    assert "forge train" in capsys.readouterr().err
