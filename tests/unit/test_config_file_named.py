"""Messages name the config file actually read, and a file-level config error gets a file-level fix.

QA: evaluate's threshold error said "in training-config.json" after `--config exp1.json` (or a
followed run's config); train's fix for an unexpected error naming a setting said to check it "in
training-config.json" too. `forge check` answered invalid JSON, a file that is not an object and an
unreadable file with "fix the keys named above", though no key could be read.
"""

from __future__ import annotations

import json

import pytest

from forge.cli import main
from forge.config import ConfigError, load_config, validate_dict
from forge.errors import ForgeError

EXP1 = {"model": {"name": "builtin:tiny-llama"}, "save": {"lora_path": "models/exp1"}}


def test_the_threshold_error_names_the_config_read(project):
    from forge.evaluate.evaluation import compute_evaluation

    cfg = validate_dict(EXP1)
    object.__setattr__(cfg.evaluation, "gate_threshold", 2.0)  # past validation: a library caller's config
    with pytest.raises(ForgeError) as e:
        compute_evaluation(project, cfg=cfg, config_name="exp1.json")
    assert "evaluation.gate_threshold in exp1.json is 2.0" in e.value.message
    assert "training-config.json" not in e.value.message + (e.value.fix or "")


def test_evaluate_passes_the_name_of_the_config_it_read(project, monkeypatch, capsys):
    import forge.evaluate.evaluation as ev

    (project.root / "exp1.json").write_text(json.dumps(EXP1))
    seen = {}

    def fake(project, threshold=None, overrides=None, *, cfg=None, config_name=None, **kwargs):
        seen["name"] = config_name
        raise ForgeError("stop here", "none: a test stub")

    monkeypatch.setattr(ev, "compute_evaluation", fake)
    main(["evaluate", str(project.root), "--config", "exp1.json"])
    assert seen["name"] == "exp1.json"
    main(["evaluate", str(project.root), "--config", "exp1.json", "--set", "evaluation.gate_threshold=0.1"])
    assert seen["name"] == "exp1.json + --set"


def test_an_unexpected_errors_fix_names_the_config_file_of_the_run():
    from forge.train.failures import classify

    kind, fix = classify(RuntimeError("learning_rate is nan"), config="exp1.json")
    assert kind == "internal" and "in exp1.json (`forge schema`" in fix
    assert "training-config.json" not in fix


def _config_item(project, capsys) -> dict:
    capsys.readouterr()
    main(["check", str(project.root), "--json"])
    out = json.loads(capsys.readouterr().out)
    return next(i for i in out["sections"]["Config Ready"] if i["name"] == "config valid")


@pytest.mark.parametrize(
    "text, words",
    [
        ('{\n  "model": {\n    "name": "x",,\n  }\n}\n', "fix the JSON syntax at line 3 column"),
        ("[1, 2]\n", "one JSON object"),
    ],
)
def test_check_gives_a_file_level_fix_for_a_file_level_problem(project, capsys, text, words):
    project.config_file.write_text(text)
    item = _config_item(project, capsys)
    assert item["status"] == "fail" and words in item["fix"], item
    assert "fix the keys" not in item["fix"]


def test_an_unreadable_config_is_a_config_error_with_its_fix(project, capsys):
    project.config_file.unlink()
    project.config_file.mkdir()  # a folder of that name: read_text raises IsADirectoryError
    with pytest.raises(ConfigError) as e:
        load_config(project.config_file)
    assert "cannot read the file" in e.value.message and "readable file" in e.value.fix


def test_a_key_problem_keeps_the_keys_fix(project, capsys):
    project.config_file.write_text(json.dumps({"training": {"learning_rat": 1}}))
    item = _config_item(project, capsys)
    assert item["status"] == "fail" and "fix the keys named above" in item["fix"]
