import json
import subprocess
import sys

from forge.cli import main
from forge.plan.hardware import HardwareInfo


def test_help_does_not_import_torch():
    code = "import sys; from forge.cli import main; rc = main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_unknown_command_is_usage_error():
    assert main(["no-such-verb"]) == 2


def test_schema_prints_json(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "training" in schema["properties"]


def test_init_writes_layout_and_keeps_existing(tmp_path):
    d = tmp_path / "p"
    assert main(["init", str(d)]) == 0
    for sub in ("data/splits", "metrics", "models/checkpoints", "outputs", "logs", ".factory"):
        assert (d / sub).is_dir(), sub
    cfg = json.loads((d / "training-config.json").read_text())
    assert cfg["$schema"] == "./training-config.schema.json"
    assert (d / "training-config.schema.json").exists()
    assert (d / "scripts" / "train.py").exists()
    (d / "training-config.json").write_text('{"model": {"name": "mine"}}')
    assert main(["init", str(d)]) == 0
    assert json.loads((d / "training-config.json").read_text()) == {"model": {"name": "mine"}}


def test_check_json_ready_with_small_model(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible"))
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    rc = main(["check", str(project.root), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out["ready"] is True
    assert set(out["sections"]) == {"Data Ready", "Hardware Ready", "Config Ready", "Baseline Done"}
    assert out["data"]["train"]["valid"] == 120


def test_check_not_ready_names_fix(tmp_path, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible"))
    rc = main(["check", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    items = {i["name"]: i for i in out["sections"]["Data Ready"]}
    assert items["train split exists"]["status"] == "fail"
    assert "format step" in items["train split exists"]["fix"]


def test_check_gpu_too_small_for_model(project, monkeypatch, capsys):
    import forge.plan.hardware as hw
    from forge.plan.hardware import GPUInfo

    gpu = GPUInfo(name="Small GPU", vram_gb=7.6, capability="8.6", bf16=True)
    monkeypatch.setattr(hw, "probe", lambda: HardwareInfo(torch_version="2.13.0", gpus=[gpu]))
    rc = main(["check", str(project.root), "--json", "--set", "model.name=unsloth/gemma-3-27b-it"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    fits = [i for i in out["sections"]["Config Ready"] if i["name"] == "model suits the hardware"][0]
    assert fits["status"] == "fail" and "gemma-3-4b-it" in fits["fix"]


def test_export_with_an_empty_gguf_list_is_a_usage_error(tmp_path, capsys):
    # QA: `--gguf ""` / `--gguf ,` silently ran the config's default export (merged + Q8_0)
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    for spec in ("", ",", " , "):
        assert main(["export", str(proj.root), "--gguf", spec]) == 2
        err = capsys.readouterr().err
        assert "names no GGUF type" in err and "--gguf q8_0" in err


def test_check_and_plan_take_the_config_train_would_read(tmp_path, capsys):
    # QA: `forge train --config F` existed, but the config it reads could not be checked or planned
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    missing = tmp_path / "nothere.json"
    for verb, code in (("check", 1), ("plan", 2)):  # check reports a failed item, plan refuses
        rc = main([verb, str(proj.root), "--config", str(missing)])
        out = capsys.readouterr()
        text = " ".join((out.err + out.out).split())
        assert rc == code and str(missing) in text, (verb, out)
