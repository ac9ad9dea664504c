"""One quality verdict: the evaluate gate's. verify shows it, and is not ready without a pass.

Issue 28 (4): on alpaca the gate passed (val loss 2.04 -> 1.86) yet `forge verify` said
"✗ final loss < 1.0 ... outputs not ready" (exit 1); on glaive the gate failed (exit 3) and verify
had no gate item at all (exit 0 on a good loss), while export ran without a word.
"""

from __future__ import annotations

import json

from fake_outputs import safetensors_bytes

from evaluate_files import write_metrics
from forge.check.artifacts import adapter_fingerprint
from forge.cli import main
from forge.evaluate.verdict import gate_verdict
from forge.init.scaffold import init_project
from forge.records.base import read_record, write_record
from forge.records.evaluate import EvaluationRecord


def _trained(root, final_loss=0.3):
    proj, _ = init_project(root)
    proj.lora_dir.mkdir(parents=True, exist_ok=True)
    (proj.lora_dir / "adapter_config.json").write_text("{}")
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    proj.training_stats_file.write_text(json.dumps({"final_loss": final_loss, "total_steps": 4}))
    proj.history_file.write_text("".join(json.dumps({"step": i, "loss": 2.5 / i}) + "\n" for i in range(1, 5)))
    return proj


def _verify(proj, capsys) -> tuple[int, dict]:
    rc = main(["verify", str(proj.root), "--json"])
    out = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for i in out["sections"]["Quality"]}
    return rc, items


def test_no_evaluation_is_not_ready(tmp_path, capsys):
    proj = _trained(tmp_path / "p")
    rc, items = _verify(proj, capsys)
    gate = items["evaluate gate"]
    assert rc == 1 and gate["status"] == "fail"
    assert "not judged" in gate["detail"] and "forge baseline" in gate["fix"] and "forge evaluate" in gate["fix"]


def test_a_failed_gate_is_not_ready_whatever_the_loss(tmp_path, capsys):
    proj = _trained(tmp_path / "p", final_loss=0.2)  # a fine training loss: the gate decides
    write_metrics(proj, base=(2.0, 7.4, 0.3, 0.0), tuned=(1.99, 7.3, 0.3, 0.0))  # 0.5% better: needs 5%
    rc, items = _verify(proj, capsys)
    gate = items["evaluate gate"]
    assert rc == 1 and gate["status"] == "fail" and gate["detail"].startswith("failed: val loss 2.0000 -> 1.9900")
    assert items["final loss < 0.5"]["status"] == "ok"


def test_a_passed_gate_with_a_high_loss_is_ready_with_advice(tmp_path, capsys):
    proj = _trained(tmp_path / "p", final_loss=1.86)  # alpaca's numbers
    write_metrics(proj, base=(2.04, 7.7, 0.2, 0.0), tuned=(1.86, 6.4, 0.25, 0.0))
    rc, items = _verify(proj, capsys)
    assert rc == 0 and items["evaluate gate"]["status"] == "ok"
    advice = items["final loss < 1.0"]
    assert advice["status"] == "warn" and "advice, not the verdict" in advice["detail"]
    assert main(["verify", str(proj.root)]) == 0
    assert "outputs verified" in " ".join(capsys.readouterr().out.split())


def test_an_evaluation_of_another_adapter_is_stale_not_a_pass(tmp_path, capsys):
    proj = _trained(tmp_path / "p")
    write_metrics(proj)
    record = read_record(proj.evaluation_file, EvaluationRecord)
    record.adapter_fingerprint = adapter_fingerprint(proj.lora_dir)
    write_record(proj.evaluation_file, record)
    assert gate_verdict(proj, proj.lora_dir).passed
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes("retrained"))
    verdict = gate_verdict(proj, proj.lora_dir)
    assert verdict.state == "stale" and "of the old adapter" in verdict.detail
    rc, items = _verify(proj, capsys)
    assert rc == 1 and items["evaluate gate"]["status"] == "fail"


def test_the_verdict_as_json_says_passed_and_state(tmp_path):
    proj = _trained(tmp_path / "p")
    write_metrics(proj, tuned=(2.95, 19.0, 0.1, 0.0))  # worse than the base
    d = gate_verdict(proj, proj.lora_dir).to_dict()
    assert d["passed"] is False and d["state"] == "fail" and d["threshold"] == 0.05 and d["reasons"]


def test_a_gone_adapter_is_stale_by_the_same_rule_the_page_applies(tmp_path):
    """The verdict of an adapter that is no longer on disk is no pass: verify / export and the web
    page's gate badge read one rule (EvaluationRecord.adapter_gone_or_changed), and say the same."""
    from forge.web.metrics import evaluation_staleness

    proj = _trained(tmp_path / "p")
    write_metrics(proj)
    record = read_record(proj.evaluation_file, EvaluationRecord)
    record.adapter_fingerprint = adapter_fingerprint(proj.lora_dir)
    record.adapter = proj.rel(proj.lora_dir)
    write_record(proj.evaluation_file, record)
    assert evaluation_staleness(proj, record) == (False, None)
    (proj.lora_dir / "adapter_model.safetensors").unlink()
    verdict = gate_verdict(proj, proj.lora_dir)
    assert verdict.state == "stale" and "is gone" in verdict.detail and "forge train" in verdict.fix
    stale, why = evaluation_staleness(proj, record)
    assert stale is True and "is gone" in why and "forge train" in why
    assert why.split(";")[0] in verdict.detail  # one sentence, both readers
