"""`forge plan --write` keeps what the user chose, decided from facts (the record `forge init` and
`--write` leave in .factory/plan.json, forge.plan.choices), not from equality with the template's
defaults; its answer lists each value it changed and each it kept, with the reason."""

from __future__ import annotations

import json

from tests.conftest import chat_rows, write_jsonl

from forge.cli import main
from forge.init.scaffold import init_project
from forge.plan.hardware import GPUInfo, HardwareInfo

CPU = HardwareInfo(torch_version="2.x", cpu_count=2)
DEFAULT_MODEL = "unsloth/gemma-3-4b-it"  # the template's model.name


def _h100():
    return HardwareInfo(torch_version="2.x", gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 79.1, "9.0", True)])


def _project(tmp_path, **init):
    proj, _ = init_project(tmp_path / "p", **init)
    write_jsonl(proj.train_file, chat_rows(120))
    write_jsonl(proj.val_file, chat_rows(12, prefix="v"))
    return proj


def _plan(proj, capsys, hardware=CPU, **kw) -> dict:
    from forge.commands import plan as cmd

    capsys.readouterr()
    assert cmd.run(proj.root, json_out=True, hardware=hardware, **kw) == 0
    return json.loads(capsys.readouterr().out)


def _cfg(proj) -> dict:
    return json.loads(proj.config_file.read_text())


def test_a_model_named_at_init_is_kept_even_when_it_is_the_defaults_name(tmp_path, capsys, monkeypatch):
    # QA: `forge init x --model unsloth/gemma-3-4b-it`, `forge plan x --write` set builtin:gemma-3-270m
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path, model=DEFAULT_MODEL)
    out = _plan(proj, capsys, write=True)
    assert _cfg(proj)["model"]["name"] == DEFAULT_MODEL
    s = out["settings"]["model.name"]
    assert s["source"] == "explicit" and "forge init --model" in s["reason"]
    assert out["yours"]["model.name"] == "forge init --model"
    kept = {k["key"]: k for k in out["write"]["kept"]}
    assert kept["model.name"]["why"] == "forge init --model"
    assert "model.name" not in {c["key"] for c in out["write"]["changed"]}
    # the next plan still knows it, and so does one on a GPU box (the VRAM table would pick 27B)
    assert _plan(proj, capsys, hardware=_h100())["settings"]["model.name"]["value"] == DEFAULT_MODEL


def test_without_model_init_leaves_the_model_to_the_plan(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path)
    out = _plan(proj, capsys, write=True)
    assert out["settings"]["model.name"]["source"] == "plan"
    assert _cfg(proj)["model"]["name"] == "builtin:gemma-3-270m"
    changed = {c["key"]: c for c in out["write"]["changed"]}
    assert changed["model.name"]["old"] == DEFAULT_MODEL and changed["model.name"]["new"] == "builtin:gemma-3-270m"
    assert "no CUDA GPU" in changed["model.name"]["why"]


def test_a_value_edited_back_to_the_default_is_the_users(tmp_path, capsys, monkeypatch):
    # the plan wrote builtin:gemma-3-270m; the user puts the template's name back by hand
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path)
    _plan(proj, capsys, write=True)
    cfg = _cfg(proj)
    assert cfg["training"]["per_device_train_batch_size"] != 2
    cfg["model"]["name"] = DEFAULT_MODEL
    cfg["training"]["per_device_train_batch_size"] = 2  # the template's default, which the plan had replaced
    proj.config_file.write_text(json.dumps(cfg))
    out = _plan(proj, capsys)
    for key in ("model.name", "training.per_device_train_batch_size"):
        assert out["settings"][key]["source"] == "explicit", key
        assert "edited in training-config.json" in out["yours"][key]


def test_the_write_report_lists_exactly_what_changed_in_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path)
    cfg = _cfg(proj)
    cfg["training"]["learning_rate"] = 3e-5
    proj.config_file.write_text(json.dumps(cfg))
    before = _cfg(proj)
    out = _plan(proj, capsys, write=True, overrides=["lora.r=12"])
    after = _cfg(proj)
    diff = {
        f"{sec}.{k}"
        for sec, vals in after.items()
        if isinstance(vals, dict)
        for k, v in vals.items()
        if before.get(sec, {}).get(k, object()) != v
    }
    report = out["write"]
    assert {c["key"] for c in report["changed"]} == diff
    changed = {c["key"]: c for c in report["changed"]}
    assert changed["lora.r"]["new"] == 12 and changed["lora.r"]["why"] == "your --set"  # --set is written
    kept = {k["key"]: k for k in report["kept"]}
    assert kept["training.learning_rate"]["value"] == 3e-5 and kept["training.learning_rate"]["plan"] == 2e-4
    assert "edited in training-config.json" in kept["training.learning_rate"]["why"]
    # and the people's version says the same, line by line
    from forge.commands import plan as cmd

    capsys.readouterr()
    assert cmd.run(proj.root, write=True, hardware=CPU) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "wrote training-config.json: 0 value(s) changed" in text
    assert "kept lora.r = 12: yours (forge plan --set)" in text
    assert "kept training.learning_rate = 3e-05: yours (edited in training-config.json (forge wrote 0.0002))" in text


def test_a_set_with_write_pins_the_value_for_later_plans(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path)
    _plan(proj, capsys, write=True, overrides=[f"model.name={DEFAULT_MODEL}"])
    assert _cfg(proj)["model"]["name"] == DEFAULT_MODEL
    out = _plan(proj, capsys, hardware=_h100())
    assert out["settings"]["model.name"]["value"] == DEFAULT_MODEL
    assert out["yours"]["model.name"] == "forge plan --set"


def test_an_older_project_keeps_the_old_rule_until_its_first_write(tmp_path, capsys, monkeypatch):
    # made by an older forge: every default in the file, no record of which values forge wrote
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path, model=DEFAULT_MODEL)
    (proj.factory_dir / "plan.json").unlink()
    out = _plan(proj, capsys)
    assert out["settings"]["model.name"]["source"] == "plan"  # equal to the default: forge's, as before
    assert any("no record of which values" in n and "--set KEY=VALUE --write" in n for n in out["notes"])
    # pinning it: --set with --write; the record is complete from then on
    _plan(proj, capsys, write=True, overrides=[f"model.name={DEFAULT_MODEL}"])
    record = json.loads((proj.factory_dir / "plan.json").read_text())
    assert record["complete"] is True and record["chosen"] == {"model.name": "forge plan --set"}
    again = _plan(proj, capsys, hardware=_h100())
    assert again["settings"]["model.name"]["value"] == DEFAULT_MODEL
    assert not any("no record" in n for n in again["notes"])


def test_a_record_of_an_older_plan_write_still_reads_its_values_as_forges(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path)
    cfg = _cfg(proj)
    cfg["lora"]["r"], cfg["lora"]["lora_alpha"] = 16, 64
    proj.config_file.write_text(json.dumps(cfg))
    (proj.factory_dir / "plan.json").write_text(json.dumps({"schema_version": 1, "written": {"lora.r": 16}}))
    out = _plan(proj, capsys)
    assert out["settings"]["lora.r"]["source"] == "plan"
    assert out["settings"]["lora.lora_alpha"]["source"] == "explicit"
    assert "not the template's default" in out["yours"]["lora.lora_alpha"]


def test_a_config_named_with_config_has_a_record_of_its_own(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path, model=DEFAULT_MODEL)
    own = json.loads((proj.factory_dir / "plan.json").read_text())
    other = proj.root / "other.json"
    other.write_text(json.dumps({"lora": {"r": 4}}))
    assert main(["plan", str(proj.root), "--config", str(other), "--write"]) == 0
    assert json.loads((proj.factory_dir / "plan.json").read_text()) == own  # training-config.json's
    assert json.loads(other.read_text())["lora"]["r"] == 4
    out = _plan(proj, capsys, config=other)
    assert out["settings"]["model.name"]["source"] == "plan" and out["settings"]["lora.r"]["source"] == "explicit"
    assert _plan(proj, capsys)["settings"]["model.name"]["source"] == "explicit"


def test_fp8_an_earlier_plan_chose_is_turned_off_where_it_does_not_hold(tmp_path, capsys, monkeypatch):
    """A plan on an H200 writes model.fp8_matmul: true for the 8B shape (forge.plan.fp8.MEASURED); the
    same project planned on a CPU or an H100 turns it off again, with the reason, instead of refusing
    the plan's own earlier value. A value the user set stays, and is refused where it cannot run."""
    from bench.common import make_chat

    monkeypatch.setattr("forge.plan.measure.offline_tokenizer", lambda folder: None)
    proj = _project(tmp_path, model="unsloth/Meta-Llama-3.1-8B-Instruct")
    write_jsonl(proj.train_file, make_chat(600))
    h200 = HardwareInfo(torch_version="2.x", unsloth=True, gpus=[GPUInfo("NVIDIA H200", 139.8, "9.0", True)])
    _plan(proj, capsys, hardware=h200, write=True)
    assert _cfg(proj)["model"]["fp8_matmul"] is True and _cfg(proj)["model"]["load_in_4bit"] is False
    for hw, why in ((CPU, "no GPU"), (_h100(), "1.01x bf16")):
        out = _plan(proj, capsys, hardware=hw)
        s = out["settings"]["model.fp8_matmul"]
        assert s["value"] is False and s["source"] == "plan" and why in s["reason"], s
        assert not [r for r in out["refusals"] if r["key"] == "model.fp8_matmul"]
    _plan(proj, capsys, write=True)  # on the CPU
    assert _cfg(proj)["model"]["fp8_matmul"] is False
    # the user's own true is kept, and the CPU plan says it cannot run here
    out = _plan(proj, capsys, overrides=["model.fp8_matmul=true", "model.load_in_4bit=false"])
    assert out["yours"]["model.fp8_matmul"] == "--set"
    assert [r for r in out["refusals"] if r["key"] == "model.fp8_matmul"]
