"""`forge init` checks its arguments before it writes anything, and never ignores --model in
silence: an existing config's model.name becomes X only where forge wrote it and nobody chose it;
a chosen one is refused (exit 2) with both names and the fix."""

from __future__ import annotations

import json

from forge.cli import main
from forge.init.scaffold import init_project


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else None


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_an_unknown_example_writes_nothing(tmp_path, capsys):
    assert main(["init", str(tmp_path / "p2"), "--example", "alpaca"]) == 2
    assert not (tmp_path / "p2").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["init", str(empty), "--example", "alpaca"]) == 2
    assert _files(empty) == []  # not even the lock's folder
    assert "unknown example 'alpaca'" in _flat(capsys.readouterr().err)


def test_a_model_that_would_not_load_writes_nothing(tmp_path, capsys):
    assert main(["init", str(tmp_path / "p3"), "--model", " "]) == 2
    assert not (tmp_path / "p3").exists()
    assert "model.name" in _flat(capsys.readouterr().err)


def test_model_on_an_existing_config_that_forge_wrote_is_applied(tmp_path, capsys):
    root = tmp_path / "p"
    assert main(["init", str(root)]) == 0
    capsys.readouterr()
    assert main(["init", str(root), "--model", "builtin:tiny-llama"]) == 0
    out = _flat(capsys.readouterr().out)
    assert "model.name unsloth/gemma-3-4b-it -> builtin:tiny-llama" in out and "nothing new" not in out
    cfg = json.loads((root / "training-config.json").read_text())
    assert cfg["model"]["name"] == "builtin:tiny-llama" and cfg["lora"]["r"] == 8  # the rest untouched
    record = json.loads((root / ".factory" / "plan.json").read_text())
    assert record["chosen"]["model.name"] == "forge init --model" and "model.name" not in record["written"]


def test_model_over_a_chosen_model_is_refused_naming_both_and_the_fix(tmp_path, capsys):
    root = tmp_path / "p"
    assert main(["init", str(root), "--model", "unsloth/gemma-3-4b-it"]) == 0
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["init", str(root), "--model", "builtin:tiny-llama"]) == 2
    err = _flat(capsys.readouterr().err)
    assert "already names model.name unsloth/gemma-3-4b-it (yours: forge init --model)" in err
    assert f"forge plan {root} --set model.name=builtin:tiny-llama --write" in err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    # the same name again: nothing to say but that the files were kept
    assert main(["init", str(root), "--model", "unsloth/gemma-3-4b-it"]) == 0
    assert "nothing new" in _flat(capsys.readouterr().out)


def test_a_hand_edited_model_is_the_users(tmp_path, capsys):
    root = tmp_path / "p"
    init_project(root)
    cfg_file = root / "training-config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-gemma3"
    cfg_file.write_text(json.dumps(cfg))
    assert main(["init", str(root), "--model", "builtin:tiny-llama"]) == 2
    assert "edited in training-config.json" in _flat(capsys.readouterr().err)


def test_init_records_which_values_a_flag_chose(tmp_path):
    proj, _ = init_project(tmp_path / "p", example="support", model="builtin:tiny-llama")
    record = json.loads((proj.factory_dir / "plan.json").read_text())
    assert record["complete"] is True
    assert record["chosen"]["model.name"] == "forge init --model"
    assert record["chosen"]["model.max_seq_length"] == "forge init --example support"
    assert record["written"]["lora.bias"] == "none"  # a template default: forge's


def test_an_example_over_an_existing_config_says_its_settings_were_not_applied(tmp_path, capsys):
    root = tmp_path / "p"
    assert main(["init", str(root)]) == 0
    capsys.readouterr()
    assert main(["init", str(root), "--example", "support"]) == 0
    out = _flat(capsys.readouterr().out)
    assert "training-config.json exists and was kept: the settings of the example support were not applied" in out
    assert json.loads((root / "training-config.json").read_text())["model"]["max_seq_length"] == 2048


def test_an_empty_folder_argument_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, capsys):
    import json

    from forge.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["init", ""]) == 2
    assert list(tmp_path.iterdir()) == []  # nothing scaffolded here
    assert 'empty string ("")' in capsys.readouterr().err
    assert main(["check", "", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["kind"] == "usage"
