"""A UTF-8 byte-order mark at the start of training-config.json is read past, as the data reader
reads past one (QA, 2026-12: check said "Unexpected UTF-8 BOM" with the fix "fix the keys named
above", while train.jsonl with a BOM was tolerated), and writing the file back keeps it valid."""

from __future__ import annotations

import codecs
import json

from forge.cli import main
from forge.config import load_config, load_config_dict
from forge.plan.hardware import GPUInfo, HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
BOM = codecs.BOM_UTF8


def _with_bom(path, data: dict) -> None:
    path.write_bytes(BOM + json.dumps(data, indent=2).encode("utf-8"))


def test_a_config_with_a_bom_loads(tmp_path):
    path = tmp_path / "training-config.json"
    _with_bom(path, {"training": {"learning_rate": 3e-5}, "model": {"name": "builtin:tiny-llama"}})
    assert load_config_dict(path)["training"] == {"learning_rate": 3e-5}
    cfg = load_config(path, ["training.max_steps=2"])
    assert cfg.training.learning_rate == 3e-5 and cfg.model.name == "builtin:tiny-llama"


def test_check_reads_past_the_bom(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    data = json.loads(project.config_file.read_text())
    data["model"].update(name="builtin:tiny-llama", load_in_4bit=False)
    _with_bom(project.config_file, data)
    assert main(["check", str(project.root), "--json"]) == 0
    items = {i["name"]: i for sec in json.loads(capsys.readouterr().out)["sections"].values() for i in sec}
    assert items["config valid"]["status"] == "ok", items["config valid"]


def test_plan_write_keeps_the_values_and_writes_plain_utf8(project, monkeypatch, capsys):
    from forge.commands import plan as cmd

    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    data = json.loads(project.config_file.read_text())
    data["training"]["learning_rate"] = 3e-5
    data["dataset"]["chat_template"] = "auto"
    _with_bom(project.config_file, data)
    h100 = HardwareInfo(torch_version="2.x", gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 79.1, "9.0", True)])
    assert cmd.run(project.root, write=True, json_out=True, hardware=h100) == 0
    capsys.readouterr()
    raw = project.config_file.read_bytes()
    assert not raw.startswith(BOM)
    new = json.loads(raw.decode("utf-8"))  # strict UTF-8 JSON: any JSON reader takes it
    assert new["training"]["learning_rate"] == 3e-5 and new["$schema"] == "./training-config.schema.json"
    assert load_config(project.config_file).training.learning_rate == 3e-5
