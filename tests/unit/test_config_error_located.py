"""A config error says where its problem is: the file (with the key's line) or a --set.

QA: `forge train P --json --set training.max_steps=3` on a file with `learnig_rate` answered
`file: null, line: null` (the source read "FILE + --set", so no file was named, nor any line);
`forge plan P --set training.learning_rate=fast` blamed the file ("training-config.json: 1
problem(s) ... training.learning_rate"), where the bad value was the --set's.
"""

from __future__ import annotations

import json

import pytest

from forge.config import ConfigError, load_config

TEXT = """{
  "model": {"name": "builtin:tiny-llama"},
  "training": {
    "max_steps": 3,
    "learnig_rate": 0.0001
  },
  "lora": {
    "r": "big"
  }
}
"""


def _error(tmp_path, overrides) -> ConfigError:
    path = tmp_path / "training-config.json"
    path.write_text(TEXT)
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides)
    return e.value


def test_key_lines_by_path():
    from forge.config.key_lines import key_lines

    lines = key_lines(TEXT)
    assert lines[("training", "learnig_rate")] == 5
    assert lines[("lora", "r")] == 8
    assert lines[("model", "name")] == 2
    assert key_lines('{"a": "unterminated') == {}


def test_file_problems_name_the_file_and_line_even_with_a_set(tmp_path):
    from forge.commands.console import error_document

    e = _error(tmp_path, ["training.max_steps=2"])
    doc = error_document(e)
    assert doc["file"] == str(tmp_path / "training-config.json")
    assert doc["line"] == 8 and doc["key"] == "lora.r"  # the first problem, in the schema's order
    assert "training.learnig_rate (line 5): unknown key; did you mean 'learning_rate'?" in e.message
    assert "lora.r (line 8)" in e.message
    assert "lines 5, 8 of" in e.fix


def test_a_bad_set_is_named_as_the_sets_not_the_files(tmp_path):
    path = tmp_path / "training-config.json"
    path.write_text(json.dumps({"model": {"name": "builtin:tiny-llama"}}))
    with pytest.raises(ConfigError) as e:
        load_config(path, ["training.learning_rate=fast"])
    assert e.value.source == "--set" and e.value.file is None
    assert e.value.key == "training.learning_rate"
    assert "--set" in e.value.fix and str(path) not in e.value.message


def test_plan_names_a_bad_set_as_the_sets(project, capsys):
    from forge.cli import main

    rc = main(["plan", str(project.root), "--json", "--set", "training.learning_rate=fast"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 2 and doc["key"] == "training.learning_rate"
    assert doc["error"].startswith("--set:") and "file" not in doc


def test_mixed_problems_mark_the_sets(tmp_path):
    e = _error(tmp_path, ["training.seed=x"])
    assert "--set training.seed:" in e.message
    assert "training.learnig_rate (line 5)" in e.message
