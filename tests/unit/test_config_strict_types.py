"""The config file's values are of their key's JSON type; --set values are read as before.

Issue 28 (8): `"r": "8"`, `"learning_rate": "1e-4"` and `"fp16": "yes"` in training-config.json
were accepted in silence (pydantic's lax mode turned them into 8, 0.0001 and true).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from forge.config import ConfigError, load_config


def _file(tmp_path, training=None, lora=None):
    path = tmp_path / "training-config.json"
    path.write_text(
        json.dumps(
            {"model": {"name": "builtin:tiny-llama"}, "lora": lora or {}, "training": training or {}},
            indent=2,
        )
    )
    return path


def test_quoted_numbers_and_words_are_refused_with_what_was_expected(tmp_path):
    path = _file(tmp_path, training={"learning_rate": "1e-4", "fp16": "yes"}, lora={"r": "8"})
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = e.value.render()
    assert 'lora.r (line 6): expected a whole number, not the string "8"; write 8 without quotes' in text
    assert 'training.learning_rate (line 9): expected a number, not the string "1e-4"; write 1e-4 without' in text
    assert 'training.fp16 (line 10): expected true or false, not the string "yes"; write true without' in text
    assert e.value.file == str(path)


def test_a_union_key_names_every_form_it_takes(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_file(tmp_path, training={"eval_steps": "10"}))
    assert 'expected a whole number (1 or more) or "auto" or null, not the string "10"' in e.value.render()


def test_a_float_where_a_whole_number_goes_is_refused(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_file(tmp_path, lora={"r": 8.0}))
    assert "lora.r" in e.value.render() and "(got 8.0)" in e.value.render()


def test_loose_and_invalid_values_are_said_together_once(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_file(tmp_path, training={"learning_rate": "fast", "fp16": "yes"}))
    assert len(e.value.problems) == 2  # "fast" refused by its type, "yes" by the strict pass
    assert sum("training.learning_rate" in p for p in e.value.problems) == 1


def test_well_typed_values_load(tmp_path):
    cfg = load_config(_file(tmp_path, training={"learning_rate": 1e-4, "num_train_epochs": 2}, lora={"r": 16}))
    assert cfg.lora.r == 16 and cfg.training.num_train_epochs == 2.0  # an int where a number goes is fine


def test_set_values_keep_their_command_line_reading(tmp_path):
    path = _file(tmp_path)
    cfg = load_config(path, ["training.fp16=yes", "lora.r=8", "training.learning_rate=1e-4"])
    assert cfg.training.fp16 is True and cfg.lora.r == 8 and cfg.training.learning_rate == 1e-4
    # a --set value does not excuse a loose value elsewhere in the file
    path = _file(tmp_path, lora={"r": "8"})
    with pytest.raises(ConfigError) as e:
        load_config(path, ["training.fp16=yes"])
    assert "lora.r" in e.value.render() and "training.fp16" not in e.value.render()
    # and a --set of that very key replaces the file's value
    assert load_config(path, ["lora.r=8"]).lora.r == 8


def test_forge_check_json_refuses_the_loose_file(tmp_path):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    data = json.loads(proj.config_file.read_text())
    data["lora"]["r"] = "8"
    proj.config_file.write_text(json.dumps(data, indent=2))
    res = subprocess.run(
        [sys.executable, "-m", "forge", "plan", str(proj.root), "--json"], capture_output=True, text=True
    )
    assert res.returncode == 2, res.stdout + res.stderr
    answer = json.loads(res.stdout)
    assert "lora.r" in answer["error"] and "not the string" in answer["error"]
