"""`forge evaluate` at its seams, without a model: the adapter it is handed (damaged, or trained on
another base), the loading settings and precision against the baseline's, the threshold, and the
tie between evaluation.json and the adapter it scored (the web metrics view)."""

from __future__ import annotations

import json
import shutil

import pytest
from model_folders import write_adapter

from evaluate_files import scores, write_metrics
from forge.check.artifacts import adapter_fingerprint
from forge.cli import main

SCORED: list = []  # the adapters the stand-in scoring pass was asked to score


def set_config(project, **model):
    cfg = json.loads(project.config_file.read_text())
    cfg["model"].update(model)
    project.config_file.write_text(json.dumps(cfg))


@pytest.fixture
def fake(project, monkeypatch):
    """compute_baseline / compute_evaluation with only the model pass stood in for."""
    import forge.evaluate.baseline as baseline_mod
    import forge.evaluate.evaluation as evaluation_mod

    SCORED.clear()
    passes = iter([scores(2.0, 7.39, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0)])

    def score_with(val, *, adapter=None):
        SCORED.append(adapter)
        return next(passes)

    monkeypatch.setattr(baseline_mod, "score_with", score_with)
    monkeypatch.setattr(evaluation_mod, "score_with", score_with)
    set_config(project, name="builtin:tiny-llama")
    write_adapter(project.lora_dir, "builtin:tiny-llama")
    return project


def _baseline(project, *overrides: str) -> None:
    args = [a for o in overrides for a in ("--set", o)]
    assert main(["baseline", str(project.root), *args]) == 0
    SCORED.clear()


def _evaluate(project, capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evaluate", str(project.root), *args])
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "Traceback" not in err
    return code, err


# --- 1. the adapter's own record of its base is what is compared -------------------------------


def test_adapter_of_another_base_is_refused_without_training_stats(fake, tmp_path, capsys):
    """The QA repro: training-stats.json gone, baseline redone for another model, the adapter kept."""
    llama, gemma = tmp_path / "tiny-llama-v1", tmp_path / "tiny-gemma3-v1"
    llama.mkdir(), gemma.mkdir()
    write_adapter(fake.lora_dir, str(llama))
    assert not fake.training_stats_file.exists()
    set_config(fake, name=str(gemma))
    _baseline(fake)
    code, err = _evaluate(fake, capsys)
    assert code == 2 and SCORED == [] and not fake.evaluation_file.exists()
    assert "tiny-llama-v1" in err and "base_model_name_or_path" in err and "tiny-gemma3-v1" in err
    assert "model.name" in err and "forge train" in err


def test_adapter_of_another_base_is_refused_even_with_training_stats_agreeing(fake, tmp_path, capsys):
    """A training-stats.json that says model.name does not outvote the adapter's own record."""
    other = tmp_path / "other"
    other.mkdir()
    write_adapter(fake.lora_dir, str(other))
    fake.training_stats_file.write_text(json.dumps({"model": "builtin:tiny-llama"}))
    _baseline(fake)
    code, err = _evaluate(fake, capsys)
    assert code == 2 and SCORED == [] and str(other) in err


def test_adapter_naming_the_resolved_folder_of_model_name_is_accepted(fake, tmp_path, capsys):
    """As export compares: the adapter records the resolved folder, the config names it another way."""
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    set_config(fake, name=str(base / "sub" / ".."))
    write_adapter(fake.lora_dir, str(base))
    _baseline(fake)
    code, _ = _evaluate(fake, capsys, "--threshold", "0")
    assert code == 0 and SCORED == [fake.lora_dir]


def test_adapter_of_a_base_that_is_not_here_is_refused(fake, capsys):
    write_adapter(fake.lora_dir, "/nowhere/tiny-llama-v1")
    _baseline(fake)
    code, err = _evaluate(fake, capsys)
    assert code == 2 and SCORED == [] and "/nowhere/tiny-llama-v1" in err


# --- 2. a damaged adapter: the file and the fix, exit 1 (as export), before weights load --------


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda d: (d / "adapter_model.safetensors").unlink(), ["adapter_model.safetensors", "missing"]),
        (lambda d: (d / "adapter_model.safetensors").write_bytes(b""), ["adapter_model.safetensors", "empty"]),
        (lambda d: (d / "adapter_model.safetensors").write_bytes(b"garbage!!"), ["adapter_model.safetensors"]),
        (lambda d: (d / "adapter_config.json").write_text('{"r": 8'), ["adapter_config.json", "not valid JSON"]),
        (lambda d: (d / "adapter_config.json").write_text("[8]"), ["adapter_config.json", "JSON object"]),
        (lambda d: (d / "adapter_config.json").write_text('{"r": 8}'), ["adapter_config.json", "base model"]),
        (lambda d: (d / "adapter_config.json").unlink(), ["adapter_config.json", "missing"]),
    ],
)
def test_damaged_adapter_names_the_file_and_the_fix(fake, capsys, damage, words):
    _baseline(fake)
    damage(fake.lora_dir)
    code, err = _evaluate(fake, capsys)
    # exit 1: train's output is missing or not whole (not ready), the code export gives it too
    assert code == 1 and SCORED == [] and not fake.evaluation_file.exists()
    for w in words:
        assert w in err, (w, err)
    assert "forge train" in err or "builtin:tiny-llama" in err  # the fix: retrain, or name the base


# --- 3. the loading settings and the precision are compared with the baseline's ------------------


@pytest.mark.parametrize("setting", ["model.dtype=bfloat16", "model.load_in_4bit=false", "model.max_seq_length=512"])
def test_loading_settings_differing_from_the_baseline_are_refused(fake, capsys, setting):
    _baseline(fake)
    code, err = _evaluate(fake, capsys, "--set", setting)
    key = setting.split("=")[0].removeprefix("model.")
    assert code == 2 and SCORED == [] and f"{key}: baseline" in err and "forge baseline" in err


def test_baseline_records_the_loading_settings(fake):
    _baseline(fake, "model.dtype=float32")
    settings = json.loads(fake.baseline_file.read_text())["settings"]
    assert settings["dtype"] == "float32" and settings["load_in_4bit"] is True and settings["load_in_fp8"] is False


def test_old_baseline_without_loading_settings_is_not_refused_for_them(fake, capsys):
    _baseline(fake)
    data = json.loads(fake.baseline_file.read_text())
    for key in ("dtype", "load_in_4bit", "load_in_fp8"):
        del data["settings"][key]
    del data["scores"]["precision"]
    fake.baseline_file.write_text(json.dumps(data))
    code, _ = _evaluate(fake, capsys, "--threshold", "0", "--set", "model.dtype=bfloat16")
    assert code == 0 and SCORED == [fake.lora_dir]
    # evaluation.json says what the adapter was scored with, not the old baseline's unknowns
    assert json.loads(fake.evaluation_file.read_text())["settings"]["dtype"] == "bfloat16"


def test_precision_loaded_differing_from_the_baseline_is_refused(fake, monkeypatch, capsys):
    """model.dtype null on both sides, but the baseline was scored in float32 and this pass in bf16."""
    import forge.evaluate.evaluation as evaluation_mod

    first, second = scores(2.0, 7.39, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0)
    first.precision, second.precision = "float32", "bfloat16"
    passes = iter([first, second])
    monkeypatch.setattr("forge.evaluate.baseline.score_with", lambda val, adapter=None: next(passes))
    monkeypatch.setattr(evaluation_mod, "score_with", lambda val, adapter=None: next(passes))
    _baseline(fake)
    code, err = _evaluate(fake, capsys)
    assert code == 2 and "precision" in err and "float32" in err and "bfloat16" in err
    assert not fake.evaluation_file.exists()


# --- 4. evaluation.json is tied to the adapter it scored ----------------------------------------


def test_evaluation_records_the_adapter_fingerprint_and_goes_stale_on_retrain(fake, capsys):
    from forge.web.metrics import metrics_view

    _baseline(fake)
    assert _evaluate(fake, capsys, "--threshold", "0")[0] == 0
    recorded = json.loads(fake.evaluation_file.read_text())["adapter_fingerprint"]
    assert recorded == adapter_fingerprint(fake.lora_dir)
    view = metrics_view(fake)
    assert view["evaluation_stale"] is False and view["problems"] == {}

    shutil.rmtree(fake.lora_dir)  # a retrain swaps a new adapter folder in
    write_adapter(fake.lora_dir, "builtin:tiny-llama", payload=b"\1\0\0\0")
    view = metrics_view(fake)
    assert view["evaluation_stale"] is True and view["gate"]["passed"] is True
    why = view["problems"]["evaluation.json"]
    assert recorded["sha256"][:12] in why and "forge evaluate" in why

    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (fake.lora_dir / name).unlink()
    view = metrics_view(fake)
    assert view["evaluation_stale"] is True and "forge train" in view["problems"]["evaluation.json"]


def test_evaluation_of_an_older_forge_is_neither_stale_nor_fresh(project):
    from forge.web.metrics import metrics_view

    write_metrics(project)  # build_evaluation without a fingerprint, as files of before
    view = metrics_view(project)
    assert view["evaluation_stale"] is None and view["problems"] == {}


# --- 5. the threshold: a finite number in [0, 1), refused before any model loads ------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-0.1", "1", "2.5"])
def test_threshold_outside_its_range_is_refused_before_scoring(fake, capsys, value):
    _baseline(fake)
    code, err = _evaluate(fake, capsys, "--threshold", value)
    assert code == 2 and SCORED == [] and not fake.evaluation_file.exists()
    assert "--threshold" in err and "0 <= threshold < 1" in err


def test_threshold_of_the_config_is_named_when_it_is_the_one_refused(fake, capsys):
    _baseline(fake)
    code, err = _evaluate(fake, capsys, "--set", "evaluation.gate_threshold=inf")
    assert code == 2 and SCORED == [] and "evaluation.gate_threshold" in err


def test_check_threshold_and_the_gate_refuse_nan():
    import math

    from forge.errors import ForgeError
    from forge.evaluate.gate import apply_gate, check_threshold

    assert check_threshold(0) == 0 and check_threshold(0.999) == 0.999
    for bad in (math.nan, math.inf, -1e-9, 1.0):
        with pytest.raises(ForgeError) as e:
            check_threshold(bad)
        assert e.value.exit_code == 2
    with pytest.raises(ValueError):
        apply_gate({"val_loss": 2.0}, {"val_loss": 1.0}, math.nan)
