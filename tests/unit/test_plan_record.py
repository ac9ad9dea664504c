"""`.factory/plan.json` is a typed record (forge.records.plan): written with its schema_version,
read through the records, an older file (no schema_version) still read, a torn one ignored."""

from __future__ import annotations

import json

from tests.conftest import chat_rows, write_jsonl

from forge.cli import main
from forge.commands.plan import gather
from forge.init.scaffold import init_project


def _project(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    write_jsonl(proj.train_file, chat_rows(120))
    write_jsonl(proj.val_file, chat_rows(12, prefix="v"))
    return proj


def test_plan_write_leaves_a_versioned_record_that_the_next_plan_reads(tmp_path, capsys):
    proj = _project(tmp_path)
    assert main(["plan", str(proj.root), "--write", "--set", "model.name=builtin:tiny-llama"]) == 0
    capsys.readouterr()
    record = json.loads((proj.factory_dir / "plan.json").read_text())
    assert record["schema_version"] == 1 and record["written"]
    _, _, explicit, _, _ = gather(proj, [])
    assert not explicit & set(record["written"]), "the plan's own values read as the user's"


def test_an_older_record_is_read_and_a_torn_one_ignored(tmp_path):
    proj = _project(tmp_path)
    cfg = json.loads(proj.config_file.read_text())
    cfg["lora"]["r"] = 24
    proj.config_file.write_text(json.dumps(cfg))
    proj.factory_dir.mkdir(parents=True, exist_ok=True)
    (proj.factory_dir / "plan.json").write_text(json.dumps({"written": {"lora.r": 24}}))  # before records
    assert "lora.r" not in gather(proj, [])[2]
    (proj.factory_dir / "plan.json").write_text('{"written": {"lora.r"')  # torn
    assert "lora.r" in gather(proj, [])[2]  # no memory of the plan's choice: the value reads as the user's
