"""`forge evaluate` with a real PEFT adapter of builtin:tiny-llama (CPU, seconds): the adapter's own
record of its base (a resolved built-in folder) is what is compared with model.name."""

import json

import pytest

from forge.cli import main

pytestmark = pytest.mark.slow


def _config(project, name):
    from forge.config import default_config_dict

    cfg = default_config_dict()
    cfg["model"].update({"name": name, "max_seq_length": 64, "load_in_4bit": False})
    cfg["dataset"]["chat_template"] = "tokenizer"
    cfg["evaluation"].update({"generation_samples": 0, "max_new_tokens": 4})
    project.config_file.write_text(json.dumps(cfg))


def _llama_adapter(project):
    """A LoRA adapter saved by PEFT over builtin:tiny-llama: base_model_name_or_path is its folder."""
    from peft import LoraConfig, get_peft_model

    from forge.config import load_config
    from forge.models.loader import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(load_config(project.config_file).model)
    get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])).save_pretrained(
        project.lora_dir
    )
    tokenizer.save_pretrained(project.lora_dir)


def test_tiny_llama_adapter_is_scored_on_tiny_llama_and_refused_on_tiny_gemma3(project, capsys):
    _config(project, "builtin:tiny-llama")
    _llama_adapter(project)
    base = json.loads((project.lora_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base != "builtin:tiny-llama" and "tiny-llama" in base  # the resolved folder, as PEFT records it
    assert not project.training_stats_file.exists()

    assert main(["baseline", str(project.root)]) == 0
    assert main(["evaluate", str(project.root), "--threshold", "0"]) == 0
    ev = json.loads(project.evaluation_file.read_text())
    assert ev["adapter_fingerprint"]["sha256"] and ev["settings"]["dtype"] is None
    assert ev["fine_tuned_scores"]["precision"] == "float32"

    # the QA repro: the baseline redone for tiny-gemma3, the tiny-llama adapter kept
    gemma = ["--set", "model.name=builtin:tiny-gemma3"]
    assert main(["baseline", str(project.root), *gemma]) == 0
    before = project.evaluation_file.read_bytes()
    capsys.readouterr()
    assert main(["evaluate", str(project.root), *gemma]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "builtin:tiny-gemma3" in err and "tiny-llama" in err
    assert "base_model_name_or_path" in err and "forge train" in err
    assert project.evaluation_file.read_bytes() == before  # the earlier evaluation is kept as it was
