"""Which config the verbs after training read (forge.config.verb_config), without a model.

QA: after `forge train --config exp1.json` (adapter in models/exp1), `forge verify` said the adapter
was missing and `forge export` looked in models/checkpoints/lora, the default; export and verify
had no --config or --set at all. Now every verb that reads the config takes both (defined once in
forge.cli), and with neither, export / verify / evaluate follow the last run's record in
training-stats.json when it put its outputs elsewhere, and say so.
"""

from __future__ import annotations

import json

import pytest
from model_folders import write_adapter

from forge.cli import main
from forge.config import validate_dict
from forge.config.source import ConfigSource, paths_record
from forge.config.verb_config import load_verb_config
from forge.records.base import write_record
from forge.records.train import TrainingStats

EXP1 = {"model": {"name": "builtin:tiny-llama"}, "save": {"lora_path": "models/exp1"}, "training": {"output_dir": "o1"}}


def _trained(project, data: dict, file: str | None, overrides: list[str] = (), run_id: str = "r-exp1"):
    """training-stats.json as `forge train` leaves it (its writers), and the adapter where it saved it."""
    from forge.config import apply_overrides

    cfg = validate_dict(apply_overrides(data, list(overrides)))
    source = ConfigSource(project.path(file).resolve() if file else None, tuple(overrides))
    stats = TrainingStats(
        run_id=run_id,
        model=cfg.model.name,
        total_steps=4,
        final_loss=0.3,
        config_source=source.record(project),
        paths=paths_record(cfg),
    )
    write_record(project.training_stats_file, stats)
    write_adapter(project.outputs(cfg).lora, "builtin:tiny-llama")
    return cfg


def _verify_json(project, capsys, *args) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["verify", str(project.root), "--json", *args])
    out = capsys.readouterr()
    return code, json.loads(out.out), " ".join(out.err.split())


def _adapter_items(doc: dict) -> dict:
    return {i["name"]: i for i in doc["sections"]["Required"] if i["name"].startswith("adapter")}


@pytest.fixture
def exp1(project):
    (project.root / "exp1.json").write_text(json.dumps(EXP1))
    _trained(project, EXP1, "exp1.json")
    return project


def test_verify_without_flags_follows_the_run_that_trained_with_another_config(exp1, capsys):
    code, doc, err = _verify_json(exp1, capsys)
    items = _adapter_items(doc)
    assert all(i["status"] == "ok" for i in items.values()), items
    assert "models/exp1/adapter_model.safetensors" in items["adapter_model.safetensors"]["detail"]
    assert doc["config"]["file"] == "exp1.json" and doc["config"]["followed_run"] == "r-exp1"
    # said, with the fix, on stderr and in the answer
    assert "--config exp1.json" in err and "models/exp1" in err and "fix:" in err
    assert doc["config"]["notes"] and "--config" in doc["config"]["notes"][0]


def test_an_explicit_config_is_read_as_given(exp1, capsys):
    code, doc, err = _verify_json(exp1, capsys, "--config", str(exp1.config_file))
    items = _adapter_items(doc)
    assert all(i["status"] == "fail" for i in items.values())
    assert "models/checkpoints/lora" in items["adapter_config.json"]["detail"]
    assert doc["config"]["followed_run"] is None and doc["config"]["notes"] == [] and "note:" not in err


def test_verify_set_names_the_adapter_folder(project, capsys):
    write_adapter(project.root / "models" / "alt", "builtin:tiny-llama")
    code, doc, _ = _verify_json(project, capsys, "--set", "save.lora_path=models/alt")
    items = _adapter_items(doc)
    base = items.pop("adapter base")  # the project's model.name is not the adapter's: said, as export refuses it
    assert base["status"] == "fail" and "was trained on 'builtin:tiny-llama'" in base["detail"], base
    assert all(i["status"] == "ok" for i in items.values()) and "models/alt" in items["adapter_config.json"]["detail"]
    assert doc["config"]["overrides"] == ["save.lora_path=models/alt"]


def test_a_run_trained_with_set_save_lora_path_is_followed(project):
    file = json.loads(project.config_file.read_text())
    _trained(project, file, "training-config.json", ["save.lora_path=models/alt"])
    chosen = load_verb_config(project)
    assert chosen.cfg.save.lora_path == "models/alt" and chosen.followed is not None
    assert "--set save.lora_path=models/alt" in chosen.notes[0]


def test_a_run_that_differed_from_the_unchanged_file_only_by_set_is_followed(project):
    """`forge train P --set model.name=X`: the file is as the run read it (its sha256 on record), so the
    run's config is the file + those --set values, and the verbs after it read that, saying so."""
    file = json.loads(project.config_file.read_text())
    _trained(project, file, "training-config.json", ["model.name=builtin:tiny-gemma3", "training.max_steps=5"])
    chosen = load_verb_config(project)
    assert chosen.cfg.model.name == "builtin:tiny-gemma3" and chosen.cfg.training.max_steps == 5
    assert chosen.followed is not None and chosen.source.overrides == (
        "model.name=builtin:tiny-gemma3",
        "training.max_steps=5",
    )
    (note,) = chosen.notes
    assert "unchanged since" in note and "--set model.name=builtin:tiny-gemma3 --set training.max_steps=5" in note
    assert "\n" not in note
    # baseline is about the next run: the file's model, and a note that the run was of another one
    base = load_verb_config(project, follow_last_run=False)
    assert base.cfg.model.name == file["model"]["name"] and base.followed is None
    assert "builtin:tiny-gemma3" in base.notes[0] and "--set model.name=builtin:tiny-gemma3" in base.notes[0]


def test_a_config_edited_since_the_run_is_read_as_it_is_now(project):
    file = json.loads(project.config_file.read_text())
    _trained(project, file, "training-config.json", ["model.name=builtin:tiny-gemma3"])
    file["training"]["learning_rate"] = 1e-4  # the user edits the file after the run
    project.config_file.write_text(json.dumps(file))
    chosen = load_verb_config(project)
    assert chosen.cfg.model.name == file["model"]["name"] and chosen.followed is None
    (note,) = chosen.notes
    assert "changed since" in note and "--set model.name=builtin:tiny-gemma3" in note
    assert load_verb_config(project, follow_last_run=False).notes == []  # baseline: nothing to say


def test_a_record_of_an_older_forge_without_the_files_hash_is_not_followed(project):
    file = json.loads(project.config_file.read_text())
    _trained(project, file, "training-config.json", ["model.name=builtin:tiny-gemma3"])
    data = json.loads(project.training_stats_file.read_text())
    del data["config_source"]["sha256"]  # as forge wrote it before the hash was recorded
    project.training_stats_file.write_text(json.dumps(data))
    chosen = load_verb_config(project)
    assert chosen.cfg.model.name == file["model"]["name"] and chosen.followed is None and chosen.notes == []


def test_no_config_file_then_and_now_counts_as_unchanged(project):
    project.config_file.unlink()
    _trained(project, {}, None, ["model.name=builtin:tiny-gemma3"])
    chosen = load_verb_config(project)
    assert chosen.cfg.model.name == "builtin:tiny-gemma3" and chosen.followed is not None
    assert "the defaults" in chosen.notes[0]
    project.config_file.write_text(json.dumps({"model": {"name": "builtin:tiny-llama"}}))  # a file since
    assert load_verb_config(project).cfg.model.name == "builtin:tiny-llama"


def test_the_last_runs_config_gone_reads_the_file_and_says_where_the_adapter_is(exp1):
    (exp1.root / "exp1.json").unlink()
    chosen = load_verb_config(exp1)
    assert chosen.cfg.save.lora_path == "models/checkpoints/lora" and chosen.followed is None
    note = chosen.notes[0]
    assert "models/exp1" in note and "--set save.lora_path=models/exp1" in note and "--config" in note


def test_baseline_reads_the_next_runs_config_not_the_last_runs(exp1):
    """baseline scores the base model for the next comparison: training-config.json, as check and train."""
    chosen = load_verb_config(exp1, follow_last_run=False)
    assert chosen.cfg.save.lora_path == "models/checkpoints/lora" and not chosen.notes


def test_export_reads_the_followed_config(exp1, capsys):
    """No adapter in models/exp1 any more: export says so for that folder, not for the default one."""
    import shutil

    shutil.rmtree(exp1.root / "models" / "exp1")
    capsys.readouterr()
    code = main(["export", str(exp1.root), "--json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == 1 and doc["kind"] == "adapter_missing" and "models/exp1" in doc["error"]
    assert "checkpoints/lora" not in doc["error"]
    code = main(["export", str(exp1.root), "--json", "--set", "save.lora_path=models/nowhere"])
    assert code == 1 and "models/nowhere" in json.loads(capsys.readouterr().out)["error"]


VERBS_READING_THE_CONFIG = ("check", "plan", "train", "baseline", "evaluate", "export", "verify")


@pytest.mark.parametrize("verb", VERBS_READING_THE_CONFIG)
def test_every_verb_reading_the_config_takes_the_same_config_and_set(verb):
    import typer

    from forge import cli

    command = typer.main.get_command(cli.app).commands[verb]
    by_flag = {opt: p for p in command.params for opt in getattr(p, "opts", [])}
    assert "--config" in by_flag and "--set" in by_flag, verb
    reference = typer.main.get_command(cli.app).commands["train"]
    ref = {opt: p for p in reference.params for opt in getattr(p, "opts", [])}
    for flag in ("--config", "--set"):
        assert by_flag[flag].help == ref[flag].help, (verb, flag)  # one definition (cli.ConfigOpt, SetOpt)
