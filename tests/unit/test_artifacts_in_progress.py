"""The artifacts list leaves out work in progress: QA found an export stopped by SIGTERM left
models/quantized/.forge-merged/merged.partial/, and the web UI listed its files as outputs."""

from __future__ import annotations

from forge.scaffold import init_project
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
