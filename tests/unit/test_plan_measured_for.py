"""`forge plan` measures the data with the tokenizer of the model it plans for, not of the one the
config names before the plan chose (QA: a guessed chars/4 p99 sized max_seq_length for a model
whose tokenizer was on disk), and says which tokenizer measured it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from forge.init.scaffold import init_project
from forge.plan.hardware import HardwareInfo

sys.path.insert(0, str(Path(__file__).parent))
from model_folders import chat_rows, make_chatml, write_rows  # noqa: E402

CPU = HardwareInfo(torch_version="2.x", cpu_count=2)


def _project(tmp_path, **init):
    proj, _ = init_project(tmp_path / "proj", **init)
    write_rows(proj.train_file, chat_rows(150))
    write_rows(proj.val_file, chat_rows(20, "v"))
    return proj


def _plan(proj, capsys, **kw) -> dict:
    from forge.commands import plan as cmd

    capsys.readouterr()
    assert cmd.run(proj.root, json_out=True, hardware=CPU, **kw) == 0
    return json.loads(capsys.readouterr().out)


def test_the_data_is_measured_with_the_tokenizer_of_the_model_the_plan_chose(tmp_path, capsys, monkeypatch):
    # the config names a model that is not on disk; the plan chooses one whose tokenizer is
    folder = make_chatml(tmp_path / "on-disk")
    monkeypatch.setattr("forge.plan.resolve.CPU_MODEL", str(folder))
    proj = _project(tmp_path)
    out = _plan(proj, capsys, write=True)
    assert out["settings"]["model.name"]["value"] == str(folder)
    assert out["data"]["measured_with"] == f"tokenizer of {folder}"
    assert out["data"]["measured_for"] == str(folder)
    assert f"tokenizer of {folder}" in out["settings"]["model.max_seq_length"]["reason"]
    assert out["model_facts"]["name"] == str(folder)

    from forge.commands import plan as cmd

    capsys.readouterr()
    assert cmd.run(proj.root, hardware=CPU) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"(tokenizer of {folder})" in text


def test_check_measures_the_written_plan_as_plan_did(tmp_path, capsys, monkeypatch):
    # one resolver: after --write, the run's resolution (check's and train's) measures the same way
    from forge.config import load_config
    from forge.data import load_split
    from forge.plan.for_run import resolve_for_run

    folder = make_chatml(tmp_path / "on-disk")
    monkeypatch.setattr("forge.plan.resolve.CPU_MODEL", str(folder))
    proj = _project(tmp_path)
    planned = _plan(proj, capsys, write=True)
    cfg = load_config(proj.config_file)
    run = resolve_for_run(cfg, load_split(proj.train_file)[0], load_split(proj.val_file)[0], hardware=CPU)
    assert run.data["measured_with"] == planned["data"]["measured_with"]
    assert run.data["tokens_p99"] == planned["data"]["tokens_p99"]
    assert run.value("model.max_seq_length") == planned["settings"]["model.max_seq_length"]["value"]


def test_a_pinned_model_without_a_tokenizer_on_disk_is_said_so(tmp_path, capsys, monkeypatch):
    folder = make_chatml(tmp_path / "on-disk")
    monkeypatch.setattr("forge.plan.resolve.CPU_MODEL", str(folder))
    proj = _project(tmp_path, model="unsloth/gemma-3-4b-it")
    out = _plan(proj, capsys)
    assert out["data"]["measured_for"] == "unsloth/gemma-3-4b-it"
    assert out["data"]["measured_with"].startswith("chars/4")

    from forge.commands import plan as cmd

    capsys.readouterr()
    assert cmd.run(proj.root, hardware=CPU) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "no tokenizer of unsloth/gemma-3-4b-it, the planned model, to measure with" in text
