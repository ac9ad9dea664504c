import json

import pytest

from forge.config import (
    SCHEMA_FILE,
    ConfigError,
    ForgeConfig,
    apply_overrides,
    load_config,
    parse_override,
    schema_text,
    validate_dict,
)

ORIGINAL_TEMPLATE = {
    "model": {"name": "unsloth/gemma-3-4b-it", "max_seq_length": 2048, "load_in_4bit": True, "dtype": None},
    "lora": {
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0,
        "bias": "none",
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "use_gradient_checkpointing": "unsloth",
        "random_state": 3407,
        "finetune_vision_layers": False,
        "finetune_language_layers": True,
        "finetune_attention_modules": True,
        "finetune_mlp_modules": True,
    },
    "training": {
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 4,
        "num_train_epochs": 3,
        "learning_rate": 2e-4,
        "warmup_steps": 5,
        "max_steps": None,
        "fp16": None,
        "bf16": None,
        "logging_steps": 1,
        "optim": "adamw_8bit",
        "weight_decay": 0.01,
        "lr_scheduler_type": "linear",
        "seed": 3407,
        "output_dir": "outputs",
    },
    "dataset": {"path": "data/splits/train.jsonl", "chat_template": "gemma-3", "num_proc": 2},
    "save": {
        "lora_path": "models/checkpoints/lora",
        "merged_path": None,
        "gguf_path": None,
        "gguf_quantization": "Q8_0",
    },
}


def test_original_template_loads_unchanged_and_equals_defaults(tmp_path):
    f = tmp_path / "training-config.json"
    f.write_text(json.dumps(ORIGINAL_TEMPLATE))
    cfg = load_config(f)
    dumped = cfg.to_json_dict()
    for section, values in ORIGINAL_TEMPLATE.items():
        for key, value in values.items():
            assert dumped[section][key] == value, (section, key)
    # and the defaults are the original's
    assert ForgeConfig().to_json_dict()["training"]["learning_rate"] == 2e-4
    assert cfg.dataset.val_path == "data/splits/val.jsonl"


def test_unknown_key_names_nearest_valid():
    with pytest.raises(ConfigError) as e:
        validate_dict({"training": {"learnig_rate": 1e-4}})
    assert e.value.problems == ["training.learnig_rate: unknown key; did you mean 'learning_rate'?"]


def test_unknown_section_and_wrong_type_reported_together():
    with pytest.raises(ConfigError) as e:
        validate_dict({"trainig": {}, "model": {"max_seq_length": "long"}})
    probs = e.value.problems
    assert any(p.startswith("trainig: unknown key; did you mean 'training'?") for p in probs)
    assert any(
        p.startswith("model.max_seq_length: input should be a valid integer") and '(got "long")' in p for p in probs
    )


def test_schema_key_allowed():
    cfg = validate_dict({"$schema": "./training-config.schema.json"})
    assert cfg.schema_ == "./training-config.schema.json"


def test_overrides_parse_json_or_string():
    assert parse_override("training.learning_rate=1e-4") == (["training", "learning_rate"], 1e-4)
    assert parse_override("model.name=builtin:tiny-llama") == (["model", "name"], "builtin:tiny-llama")
    assert parse_override("training.max_steps=null") == (["training", "max_steps"], None)
    assert parse_override('lora.target_modules=["q_proj"]') == (["lora", "target_modules"], ["q_proj"])
    with pytest.raises(ConfigError):
        parse_override("no-equals-sign")


def test_overrides_apply_and_validate(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"training": {"learning_rate": 1e-3}}))
    cfg = load_config(f, ["training.learning_rate=1e-4", "model.name=builtin:tiny-llama"])
    assert cfg.training.learning_rate == 1e-4
    assert cfg.model.name == "builtin:tiny-llama"
    with pytest.raises(ConfigError) as e:
        load_config(f, ["training.lerning_rate=1"])
    assert "did you mean 'learning_rate'" in e.value.problems[0]
    assert apply_overrides({}, ["a.b=1"]) == {"a": {"b": 1}}


def test_bad_json_names_line(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{\n  "model": {,}\n}')
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert "line 2" in e.value.problems[0]
    assert e.value.exit_code == 2


def test_shipped_schema_matches_generated():
    assert SCHEMA_FILE.read_text() == schema_text(), "run: forge schema > src/forge/training-config.schema.json"


def test_every_schema_field_has_description():
    schema = json.loads(schema_text())
    for name, definition in schema.get("$defs", {}).items():
        for key, prop in definition.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} has no description"
    for key, prop in schema["properties"].items():
        assert prop.get("description"), key


@pytest.mark.parametrize(
    "data, text",
    [
        ({"training": {"report_to": ["tensorboard", "none"]}}, "'none' stands alone"),
        ({"training": {"report_to": ["all", "wandb"]}}, "'all' stands alone"),
        ({"save": {"gguf_path": "models/q", "gguf_quantization": ""}}, "names no GGUF type"),
        ({"save": {"gguf_quantization": " , "}}, "names no GGUF type"),
        ({"evaluation": {"gate_threshold": 1}}, "gate_threshold"),
        ({"evaluation": {"gate_threshold": float("inf")}}, "finite"),
    ],
)
def test_values_train_or_evaluate_would_refuse_late_are_config_errors(data, text):
    # QA, 2026-12-01: each passed check and failed only after a model loaded (or a run trained)
    from forge.config import ConfigError

    with pytest.raises(ConfigError) as e:
        validate_dict(data)
    assert text in str(e.value)
