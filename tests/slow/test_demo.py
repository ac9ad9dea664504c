"""`forge demo --quick` end to end: init, check, baseline, train, evaluate (gate passes), export, verify."""

import json

import pytest

from forge.cli import main

pytestmark = pytest.mark.slow


def test_demo_quick_end_to_end(tmp_path, capsys):
    d = tmp_path / "demo"
    assert main(["demo", str(d), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "forge demo" in out and "gate: PASS" in out
    ev = json.loads((d / "metrics" / "evaluation.json").read_text())
    assert ev["verdict"] == "pass" and ev["model"] == "builtin:tiny-llama"
    assert ev["fine_tuned"]["val_loss"] < ev["baseline"]["val_loss"]
    assert (d / "models" / "checkpoints" / "lora" / "adapter_config.json").exists()
    # what is shipped is gated too: the Q8_0 file has its own row and the demo ends with the table
    rows = {r["artifact"]: r for r in ev["artifacts"]}
    assert rows["gguf:q8_0"]["passed"] and rows["gguf:q8_0"]["template_parity"]["ok"]
    flat = " ".join(out.split())
    assert "Baseline vs fine-tuned" in flat and "gguf:q8_0" in flat and "evaluate Q8_0" in flat

    # a second run reuses the demo folder (outputs replaced, not refused)
    assert main(["demo", str(d), "--quick", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["gate"] == "pass" and summary["exit_code"] == 0
    names = [s["name"] for s in summary["steps"]]
    assert names[:5] == ["init", "check", "baseline", "train", "evaluate"] and "verify" in names
    # each step's answer is the wing's own result (the records' summaries), not a verb's captured stdout
    answers = summary["steps_json"]
    assert answers["baseline"]["kind"] == "baseline" and "scores" not in answers["baseline"]
    assert answers["evaluate"]["verdict"] == "pass" and "fine_tuned_scores" not in answers["evaluate"]
    assert answers["check"]["ready"] is True and answers["train"]["model"] == "builtin:tiny-llama"


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    assert main(["demo", str(d), "--quick"]) == 2
    assert "not a forge demo" in capsys.readouterr().err
    assert (d / "notes.txt").read_text() == "keep me"
