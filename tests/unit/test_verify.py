"""forge verify on synthetic artifacts (no torch, no training)."""

from __future__ import annotations

import json

from fake_outputs import safetensors_bytes, write_gguf

from evaluate_files import write_metrics
from forge.check.outputs import loss_trend, run_verify
from forge.init.scaffold import init_project
from forge.status import Status, write_status


def _artifacts(root, final_loss=0.3, losses=(2.0, 1.5, 1.0, 0.6, 0.3)):
    proj, _ = init_project(root)
    lora = proj.lora_dir
    lora.mkdir(parents=True, exist_ok=True)
    (lora / "adapter_config.json").write_text("{}")
    (lora / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    proj.training_stats_file.write_text(json.dumps({"final_loss": final_loss, "total_steps": len(losses)}))
    proj.history_file.write_text(
        "".join(json.dumps({"step": i + 1, "loss": v, "eval_loss": None}) + "\n" for i, v in enumerate(losses))
        + json.dumps({"step": 5, "loss": None, "eval_loss": 0.4})
        + "\n"
    )
    write_metrics(proj)  # the evaluate gate passed (forge.evaluate.verdict: the quality verdict)
    return proj


def _items(cl):
    return {i.name: i for i in cl.items}


def test_complete_outputs_pass(tmp_path):
    cl = run_verify(_artifacts(tmp_path / "p"))
    assert cl.ready
    items = _items(cl)
    assert items["loss decreased"].status == "ok"
    assert items["merged model"].status == "warn" and items["GGUF files"].status == "warn"


def test_missing_adapter_fails(tmp_path):
    proj = _artifacts(tmp_path / "p")
    (proj.lora_dir / "adapter_model.safetensors").unlink()
    cl = run_verify(proj)
    assert not cl.ready
    assert _items(cl)["adapter_model.safetensors"].status == "fail"


def test_the_loss_thresholds_are_advice_the_gate_is_the_verdict(tmp_path):
    # issue 28 (4): on alpaca the gate passed (val loss 2.04 -> 1.86) and verify failed "final loss < 1.0"
    assert _items(run_verify(_artifacts(tmp_path / "a", final_loss=0.7)))["final loss < 0.5"].status == "warn"
    cl = run_verify(_artifacts(tmp_path / "b", final_loss=1.7))
    item = _items(cl)["final loss < 1.0"]
    assert cl.ready and item.status == "warn" and "advice, not the verdict" in item.detail
    assert _items(cl)["evaluate gate"].status == "ok"


def test_rising_loss_fails(tmp_path):
    cl = run_verify(_artifacts(tmp_path / "p", final_loss=0.3, losses=(0.2, 0.25, 0.3, 0.35, 0.4)))
    assert _items(cl)["loss decreased"].status == "fail"


def test_oom_in_status_fails(tmp_path):
    proj = _artifacts(tmp_path / "p")
    write_status(proj.status_file, Status(phase="failed", error_kind="oom", error="CUDA out of memory"))
    assert _items(run_verify(proj))["no CUDA out-of-memory"].status == "fail"


def test_optional_artifacts_detected(tmp_path):
    proj = _artifacts(tmp_path / "p")
    proj.merged_dir.mkdir(parents=True)
    (proj.merged_dir / "config.json").write_text("{}")
    (proj.merged_dir / "model.safetensors").write_bytes(safetensors_bytes())
    write_gguf(proj.quantized_dir / "model-q8_0.gguf")  # verify opens it: a real GGUF, not b"GGUF"
    items = _items(run_verify(proj))
    assert items["merged model"].status == "ok" and items["GGUF files"].status == "ok"


def test_loss_trend_windows():
    assert loss_trend([1.0]) is None
    first, last = loss_trend([5.0] * 10 + [1.0] * 10)
    assert first == 5.0 and last == 1.0


def test_cli_exit_codes(tmp_path):
    from forge.cli import main

    proj = _artifacts(tmp_path / "p")
    assert main(["verify", str(proj.root), "--json"]) == 0
    (proj.lora_dir / "adapter_config.json").unlink()
    assert main(["verify", str(proj.root)]) == 1
