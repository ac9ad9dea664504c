"""Each artifact's gate where people look: `forge verify` (an item per artifact, the table with a
column per artifact in --json) and the web UI's metrics view (a value per artifact in each row)."""

from __future__ import annotations

import json

from fake_outputs import safetensors_bytes

from evaluate_files import write_metrics
from forge.check.artifacts import adapter_fingerprint
from forge.evaluate.artifact_gate import artifact_row
from forge.init.scaffold import init_project
from forge.records.base import write_record


def _project_with_rows(root, *, stale: bool = False):
    proj, _ = init_project(root)
    proj.lora_dir.mkdir(parents=True, exist_ok=True)
    (proj.lora_dir / "adapter_config.json").write_text("{}")
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    sha = "f" * 64 if stale else adapter_fingerprint(proj.lora_dir)["sha256"]
    base, ev = write_metrics(proj)
    common = dict(
        baseline=ev.baseline.headline(), adapter=ev.fine_tuned.headline(), adapter_passed=True, threshold=0.05
    )
    q8 = {"val_loss": 0.72, "perplexity": 2.05, "token_f1": 0.89, "exact_match": 0.5}
    q4 = {"val_loss": 2.8, "perplexity": 16.4, "token_f1": 0.89, "exact_match": 0.5}
    ev.artifacts = [
        artifact_row(name="adapter", kind="adapter", path=None, gguf_type=None, scores=ev.fine_tuned.headline(), parity=None, adapter_sha256=sha, **common),
        artifact_row(name="gguf:q8_0", kind="gguf", path="models/quantized/m-Q8_0.gguf", gguf_type="q8_0", scores=q8, parity=None, adapter_sha256=sha, **common),
        artifact_row(name="gguf:q4_k_m", kind="gguf", path="models/quantized/m-Q4_K_M.gguf", gguf_type="q4_k_m", scores=q4, parity=None, adapter_sha256=sha, **common),
    ]  # fmt: skip
    write_record(proj.evaluation_file, ev)
    return proj


def test_verify_lists_each_artifacts_gate(tmp_path):
    from forge.check.outputs import run_verify

    items = {i.name: i for i in run_verify(_project_with_rows(tmp_path / "p")).items}
    assert items["gate: gguf:q8_0"].status == "ok"
    q4 = items["gate: gguf:q4_k_m"]
    assert q4.status == "fail" and "GGUF Q4_K_M fails the gate" in q4.detail and "gguf:q8_0" in q4.fix


def test_verify_does_not_judge_rows_of_another_adapter(tmp_path):
    from forge.check.outputs import run_verify

    items = {i.name: i for i in run_verify(_project_with_rows(tmp_path / "p", stale=True)).items}
    assert items["gate: gguf:q4_k_m"].status == "skip" and "another adapter" in items["gate: gguf:q4_k_m"].detail


def test_verify_json_and_the_web_view_have_a_column_per_artifact(tmp_path):
    import subprocess
    import sys

    from forge.web.metrics import metrics_view

    proj = _project_with_rows(tmp_path / "p")
    view = metrics_view(proj)
    loss = next(r for r in view["comparison"] if r["metric"] == "val_loss")
    assert loss["artifacts"] == {"gguf:q8_0": 0.72, "gguf:q4_k_m": 2.8} and loss["evaluation"] == 0.71
    assert [r["artifact"] for r in view["evaluation"]["artifacts"]] == ["adapter", "gguf:q8_0", "gguf:q4_k_m"]
    r = subprocess.run(
        [sys.executable, "-m", "forge", "verify", str(proj.root), "--json"], capture_output=True, text=True
    )
    out = json.loads(r.stdout)
    assert next(x for x in out["comparison"] if x["metric"] == "val_loss")["artifacts"]["gguf:q4_k_m"] == 2.8
    assert {a["artifact"]: a["verdict"] for a in out["artifacts"]}["gguf:q4_k_m"] == "fail"
    r = subprocess.run([sys.executable, "-m", "forge", "verify", str(proj.root)], capture_output=True, text=True)
    assert "Baseline vs fine-tuned" in r.stdout and "gguf:q4_k_m" in r.stdout
