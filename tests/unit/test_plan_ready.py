"""`forge plan` is ready exactly when check is: bad or missing data is a refusal in the plan, and a
folder that is not a project is refused (exit 2) with nothing written. On 2026-12-02 plan said
`"ready": true` over a split check failed, and `plan /tmp/typo --write` made the folder."""

from __future__ import annotations

import json

from conftest import chat_rows, write_jsonl
from forge.cli import main
from forge.plan.hardware import HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
TINY = ["--set", "model.name=builtin:tiny-llama", "--set", "model.load_in_4bit=false"]


def _cpu(monkeypatch):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)


def _plan(root, capsys, *extra):
    rc = main(["plan", str(root), "--json", *TINY, *extra])
    out = capsys.readouterr().out
    return rc, (json.loads(out) if out.strip() else None)


def test_a_bad_role_is_a_refusal_with_its_line(project, monkeypatch, capsys):
    _cpu(monkeypatch)
    rows = chat_rows(120)
    rows[6] = {"conversations": [{"from": "human", "value": "hi"}, {"from": "bot", "value": "yo"}]}
    write_jsonl(project.train_file, rows)
    rc, out = _plan(project.root, capsys)
    assert rc == 0 and out["ready"] is False
    first = out["refusals"][0]
    assert first["kind"] == "data" and first["key"] == "dataset.path"
    assert "data/splits/train.jsonl:7" in first["message"] and first["fix"]


def test_a_missing_val_split_is_a_refusal(project, monkeypatch, capsys):
    _cpu(monkeypatch)
    project.val_file.unlink()
    rc, out = _plan(project.root, capsys)
    assert out["ready"] is False and out["refusals"][0]["key"] == "dataset.val_path"
    assert "not found" in out["refusals"][0]["message"]


def test_good_data_is_ready(project, monkeypatch, capsys):
    _cpu(monkeypatch)
    rc, out = _plan(project.root, capsys)
    assert rc == 0 and out["ready"] is True and out["refusals"] == []


def test_no_folder_is_refused_and_nothing_is_made(tmp_path, monkeypatch, capsys):
    _cpu(monkeypatch)
    typo = tmp_path / "nonexist"
    for extra in ([], ["--write"]):
        rc, _ = _plan(typo, capsys, *extra)
        assert rc == 2 and not typo.exists()


def test_a_folder_that_is_not_a_project(tmp_path, monkeypatch, capsys):
    _cpu(monkeypatch)
    (tmp_path / "elsewhere").mkdir()
    rc = main(["plan", str(tmp_path / "elsewhere"), "--write", *TINY])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2 and "is not a forge project" in err and "forge init" in err
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_write_over_bad_data_writes_nothing(project, monkeypatch, capsys):
    _cpu(monkeypatch)
    project.train_file.write_text("not json\n")
    before = project.config_file.read_text()
    rc = main(["plan", str(project.root), "--write", *TINY])
    assert rc == 2 and "nothing written" in capsys.readouterr().err
    assert project.config_file.read_text() == before


def test_plan_reads_the_config_check_and_train_read(project, monkeypatch, capsys, tmp_path):
    from forge.commands import plan as cmd

    _cpu(monkeypatch)
    alt = tmp_path / "cfgs" / "alt.json"
    alt.parent.mkdir()
    alt.write_text(json.dumps({"model": {"name": "builtin:tiny-llama", "load_in_4bit": False}, "lora": {"r": 4}}))
    monkeypatch.chdir(tmp_path)
    assert cmd.run(project.root, json_out=True, config="cfgs/alt.json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["lora.r"]["value"] == 4 and out["settings"]["lora.r"]["source"] == "explicit"
