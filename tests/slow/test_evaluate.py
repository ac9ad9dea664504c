"""forge baseline / forge evaluate on a tiny built-in model (CPU, seconds)."""

import json

import pytest

from forge.cli import main

pytestmark = pytest.mark.slow


def _configure(project, **evaluation):
    from forge.config import default_config_dict

    cfg = default_config_dict()
    cfg["model"].update({"name": "builtin:tiny-llama", "max_seq_length": 64, "load_in_4bit": False})
    cfg["dataset"]["chat_template"] = "tokenizer"
    cfg["evaluation"].update({"generation_samples": 3, "max_new_tokens": 8, **evaluation})
    project.config_file.write_text(json.dumps(cfg))


def _identity_adapter(project, *, perturb: bool = False):
    """A LoRA adapter saved like forge train's (B = 0 is the base model exactly)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from forge.config import load_config
    from forge.models.loader import load_model_and_tokenizer

    cfg = load_config(project.config_file)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    # seeded: A comes from the global RNG. The perturbed adapter also moves the MLP's output: a
    # tiny random model's loss barely notices q/v alone (7.4472 -> 7.4499 in one draw, under 1e-3)
    torch.manual_seed(0)
    targets = ["q_proj", "v_proj"] + (["o_proj", "down_proj"] if perturb else [])
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    if perturb:
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 5.0)
    peft.save_pretrained(project.lora_dir)
    tokenizer.save_pretrained(project.lora_dir)
    project.training_stats_file.write_text(json.dumps({"model": cfg.model.name}))


def test_baseline_then_evaluate_same_model_fails_gate_then_passes_at_zero(project, capsys):
    _configure(project)
    assert main(["baseline", str(project.root)]) == 0
    base = json.loads(project.baseline_file.read_text())
    assert base["model"] == "builtin:tiny-llama" and base["examples"] == 12
    assert len(base["val_sha256"]) == 64 and base["settings"]["max_seq_length"] == 64
    assert base["val_loss"] > 0 and base["perplexity"] > 1 and 0 <= base["token_f1"] <= 1
    assert base["scores"]["generation_samples"] == 3 and base["scores"]["samples"][0]["reference"]

    _identity_adapter(project)
    capsys.readouterr()
    assert main(["evaluate", str(project.root)]) == 3  # no improvement: the 5% gate fails
    ev = json.loads(project.evaluation_file.read_text())
    assert ev["verdict"] == "fail" and ev["threshold"] == 0.05
    assert ev["fine_tuned"]["val_loss"] == pytest.approx(base["val_loss"], rel=1e-4)
    assert "gate needs 5.0%" in ev["reasons"][0]
    assert "gate failed" in capsys.readouterr().out

    assert main(["evaluate", str(project.root), "--threshold", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (
        out["verdict"] == "pass" and out["threshold"] == 0 and out["deltas"]["val_loss"] == pytest.approx(0, abs=1e-4)
    )


def test_evaluate_scores_the_adapter_not_the_base(project):
    _configure(project, generation_samples=0)
    assert main(["baseline", str(project.root)]) == 0
    _identity_adapter(project, perturb=True)
    main(["evaluate", str(project.root), "--threshold", "0"])
    ev = json.loads(project.evaluation_file.read_text())
    assert ev["fine_tuned"]["val_loss"] != pytest.approx(ev["baseline"]["val_loss"], rel=1e-2)
    assert ev["baseline"]["token_f1"] is None and ev["fine_tuned"]["token_f1"] is None


def test_baseline_of_changed_val_file_is_refused(project, capsys):
    _configure(project, generation_samples=0)
    assert main(["baseline", str(project.root)]) == 0
    _identity_adapter(project)
    with project.val_file.open("a") as f:
        f.write(
            json.dumps({"conversations": [{"from": "human", "value": "x?"}, {"from": "gpt", "value": "y."}]}) + "\n"
        )
    capsys.readouterr()
    assert main(["evaluate", str(project.root)]) == 2
    err = capsys.readouterr().err
    assert "val file" in err and "forge baseline" in err


def test_the_web_comparison_of_the_files_forge_evaluate_writes(project):
    """Baseline + evaluate for real, then the web UI's metrics view of those very files."""
    import stat

    from forge.web.metrics import metrics_view

    _configure(project, generation_samples=2)
    assert main(["baseline", str(project.root)]) == 0
    _identity_adapter(project, perturb=True)
    main(["evaluate", str(project.root), "--threshold", "0"])
    for f in (project.baseline_file, project.evaluation_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644  # the old writer left 0600
    base = json.loads(project.baseline_file.read_text())
    ev = json.loads(project.evaluation_file.read_text())
    view = metrics_view(project)
    assert view["problems"] == {}
    rows = {r["metric"]: r for r in view["comparison"]}
    assert list(rows) == ["val_loss", "perplexity", "token_f1", "exact_match"]
    for key in rows:
        assert rows[key]["baseline"] == base[key] and rows[key]["evaluation"] == ev["fine_tuned"][key]
    assert rows["val_loss"]["delta"] == pytest.approx(ev["fine_tuned"]["val_loss"] - base["val_loss"], abs=1e-5)
    assert view["gate"]["passed"] is ev["passed"] and view["gate"]["threshold"] == 0
