"""The artifacts list leaves out work in progress: QA found an export stopped by SIGTERM left
models/quantized/.forge-merged/merged.partial/, and the web UI listed its files as outputs."""

from __future__ import annotations

from forge.init.scaffold import init_project
from forge.web.readers import list_artifacts


def test_partial_and_scratch_outputs_are_not_artifacts(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    q = proj.root / "models" / "quantized"
    (q / ".forge-merged" / "merged.partial").mkdir(parents=True)
    (q / ".forge-merged" / "merged.partial" / "model.safetensors").write_bytes(b"x" * 10)
    (q / "m-Q8_0.gguf.partial").write_bytes(b"x")
    (q / "m-Q8_0.gguf").write_bytes(b"GGUF")
    merged = proj.root / "models" / "checkpoints" / "merged.partial"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}")
    assert [f["path"] for f in list_artifacts(proj)] == ["models/quantized/m-Q8_0.gguf"]


def test_outputs_saved_outside_models_are_listed_with_their_kind(tmp_path):
    """QA: after `forge train --config exp1.json` (save.lora_path exp1/lora) the outputs checklist
    showed the adapter and the artifacts list beside it was empty."""
    import json

    from finished_run import make_finished

    proj = make_finished(tmp_path / "p")
    lora = proj.root / "exp1" / "lora"
    lora.mkdir(parents=True)
    (lora / "adapter_model.safetensors").write_bytes(b"w")
    (proj.root / "exp1.json").write_text(json.dumps({"save": {"lora_path": "exp1/lora"}}))
    stats = json.loads(proj.training_stats_file.read_text())
    stats.update(config_source={"file": "exp1.json", "overrides": []}, paths={"lora_path": "exp1/lora"})
    proj.training_stats_file.write_text(json.dumps(stats))
    files = {f["path"]: f["kind"] for f in list_artifacts(proj)}
    assert files["exp1/lora/adapter_model.safetensors"] == "lora"
    assert files["models/checkpoints/lora/adapter_model.safetensors"] == "lora"  # models/ still listed
    assert len(files) == len(list_artifacts(proj))  # each file once
