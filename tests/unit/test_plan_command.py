"""`forge plan` on a project folder: no writes without --write, explicit values kept with it."""

from __future__ import annotations

import json

from forge.plan.hardware import GPUInfo, HardwareInfo


def _h100():
    return HardwareInfo(torch_version="2.x", gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 79.1, "9.0", True)])


def test_plan_without_write_changes_nothing(project, capsys, monkeypatch):
    from forge.commands import plan as cmd

    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    before = {p: p.read_bytes() for p in project.root.rglob("*") if p.is_file()}
    assert cmd.run(project.root, json_out=True, hardware=_h100()) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["written"] is False
    assert out["settings"]["training.packing"]["value"] is True
    after = {p: p.read_bytes() for p in project.root.rglob("*") if p.is_file()}
    assert before == after


def test_plan_write_keeps_explicit_values(project, capsys, monkeypatch):
    from forge.commands import plan as cmd

    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    cfg_file = project.config_file
    data = json.loads(cfg_file.read_text())
    data["training"]["learning_rate"] = 3e-5  # the user's own value
    cfg_file.write_text(json.dumps(data))
    assert cmd.run(project.root, write=True, json_out=True, hardware=_h100()) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["training.learning_rate"]["source"] == "explicit"
    new = json.loads(cfg_file.read_text())
    assert new["training"]["learning_rate"] == 3e-5
    assert new["training"]["packing"] is True
    assert new["model"]["name"] == out["settings"]["model.name"]["value"]
    # a second plan sees the written values as the plan's own, not as the user's
    assert cmd.run(project.root, json_out=True, hardware=_h100()) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["settings"]["training.packing"]["source"] == "plan"
    assert again["settings"]["training.learning_rate"]["source"] == "explicit"


def test_plan_set_override_is_explicit(project, capsys, monkeypatch):
    from forge.commands import plan as cmd

    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    cmd.run(project.root, json_out=True, overrides=["lora.r=4"], hardware=_h100())
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["lora.r"]["value"] == 4
    assert out["settings"]["lora.r"]["source"] == "explicit"


def test_plan_table_prints(project, capsys, monkeypatch):
    from forge.commands import plan as cmd

    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    assert cmd.run(project.root, hardware=HardwareInfo(torch_version="2.x", cpu_count=2)) == 0
    text = capsys.readouterr().out
    assert "memory estimate" in text and "nothing written" in text


def test_plan_json_shows_the_resolved_values_of_a_local_model(tmp_path, capsys):
    # 15.2: `forge plan --json` shows every resolved value with its reason; the model is read, not named
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from model_folders import chat_rows, make_chatml, write_rows

    from forge.commands import plan as cmd
    from forge.init.scaffold import init_project

    folder = make_chatml(tmp_path / "qwen-like")
    proj, _ = init_project(tmp_path / "proj", model=str(folder))
    write_rows(proj.train_file, chat_rows(150))
    write_rows(proj.val_file, chat_rows(20, "v"))
    assert cmd.run(proj.root, json_out=True, hardware=_h100(), vram_gb=24) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["dataset.chat_template"]["value"] == "tokenizer"
    assert "own chat template" in out["settings"]["dataset.chat_template"]["reason"]
    assert out["model_facts"]["source"] == "files" and out["model_shape"]["hidden"] == 32
    assert out["memory_budget_gb"] == round(24 * 0.88, 2)
    assert out["data"]["measured_with"].startswith("tokenizer of")
    assert out["ready"] is True and out["refusals"] == []
