"""check says what train will cut and drop (warnings, never failures), and reads the --config file
train reads. 2026-12-02: with max_seq_length 512, 213/300 glaive examples were truncated and 14
dropped while check showed no warning; `forge check` had no --config."""

from __future__ import annotations

import json

from conftest import chat_rows, write_jsonl
from forge.commands import check as cmd
from forge.config import config_path
from forge.plan.hardware import HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
TINY = ["model.name=builtin:tiny-llama", "model.load_in_4bit=false", "training.max_steps=1"]
LONG = " ".join(["the answer is long and keeps going"] * 40)


def _items(project, capsys, sets, **kw):
    rc = cmd.run(project.root, json_out=True, overrides=sets, **kw)
    out = json.loads(capsys.readouterr().out)
    return rc, {i["name"]: i for sec in out["sections"].values() for i in sec}


def test_truncation_and_drops_are_warnings(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    rows = chat_rows(100)
    rows += [{"conversations": [{"from": "human", "value": "q?"}, {"from": "gpt", "value": LONG}]}] * 15
    rows += [{"conversations": [{"from": "human", "value": LONG}, {"from": "gpt", "value": "ok."}]}] * 5
    write_jsonl(project.train_file, rows)
    rc, items = _items(project, capsys, [*TINY, "dataset.chat_template=llama-3", "model.max_seq_length=64"])
    item = items["examples fit max_seq_length"]
    assert rc == 0 and item["status"] == "warn", item
    assert "20 of 120 training example(s) are longer than 64 tokens and will be truncated" in item["detail"]
    assert "5 of 120 measured example(s) keep no trained (assistant) token" in item["detail"]
    assert "model.max_seq_length" in item["fix"]


def test_check_reads_the_config_file(project, monkeypatch, capsys, tmp_path):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    alt = tmp_path / "cfgs" / "alt.json"
    alt.parent.mkdir()
    alt.write_text(json.dumps({"training": {"optim": "bogus_optim"}}))
    monkeypatch.chdir(tmp_path)
    rc, items = _items(project, capsys, TINY, config="cfgs/alt.json")
    assert rc == 1 and "'bogus_optim' is not an optimizer" in items["config valid"]["detail"]
    assert str(alt) in items["config valid"]["detail"]  # the file it read, by its resolved path


def test_a_missing_config_file_names_every_path_tried(project, monkeypatch, capsys, tmp_path):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    monkeypatch.chdir(tmp_path)
    rc, items = _items(project, capsys, TINY, config="cfgs/nope.json")
    detail = items["config valid"]["detail"]
    assert rc == 1 and str(tmp_path / "cfgs" / "nope.json") in detail
    assert str(project.root / "cfgs" / "nope.json") in detail


def test_config_path_rule(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "cfgs").mkdir(parents=True)
    (root / "cfgs" / "in-project.json").write_text("{}")
    (tmp_path / "here.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert config_path(root, None) == root / "training-config.json"
    assert config_path(root, "here.json") == tmp_path / "here.json"  # the current folder first
    assert config_path(root, "cfgs/in-project.json") == root / "cfgs" / "in-project.json"  # then the project
