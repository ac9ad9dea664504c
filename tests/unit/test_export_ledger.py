"""The export report's ledger (`made`): each output with the adapter it came from, relative to the
project, carried on by later exports. QA found that a copied project, a partial export
(`--gguf q4_k_m` only) and a failed export each made `forge verify` disown outputs that an
export had verified, with a fix that blamed a changed adapter."""

from __future__ import annotations

import json
import shutil

from fake_outputs import safetensors_bytes, write_gguf, write_safetensors

from forge.check.artifacts import adapter_fingerprint
from forge.check.outputs import run_verify
from forge.clock import utcnow
from forge.init.scaffold import init_project
from forge.records.base import read_record, write_record
from forge.records.export import ExportReport

ITEM = "outputs made from this adapter"


def _project(root):
    proj, _ = init_project(root)
    proj.lora_dir.mkdir(parents=True, exist_ok=True)
    (proj.lora_dir / "adapter_config.json").write_text("{}")
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    proj.training_stats_file.write_text(json.dumps({"final_loss": 0.3, "total_steps": 5}))
    proj.history_file.write_text("".join(json.dumps({"step": i, "loss": 2.0 / i}) + "\n" for i in range(1, 6)))
    return proj


def _export(proj, *, merged=True, gguf=("Q8_0",), ok=True):
    """What the pipeline does at its end: keep files, then carry the previous report's ledger."""
    from forge.export.pipeline import _previous_report

    previous = _previous_report(proj)
    kept = []
    if merged:
        proj.merged_dir.mkdir(parents=True, exist_ok=True)
        (proj.merged_dir / "config.json").write_text("{}")
        write_safetensors(proj.merged_dir / "model.safetensors")
    for t in gguf:
        kept.append(
            {"type": t, "path": str(write_gguf(proj.quantized_dir / f"m-{t}.gguf")), "llama_cpp_verified": True}
        )
    report = ExportReport(
        ok=ok,
        adapter_fingerprint=adapter_fingerprint(proj.lora_dir),
        merged={"path": str(proj.merged_dir), "kept": True} if merged else None,
        gguf=kept,
        checks=[{"name": "merge", "ok": True, "detail": "fine"}],
        error=None if ok else "GGUF converter failed",
        completed_at=utcnow(),
    )
    report.carry_ledger(previous, proj.root)
    write_record(proj.export_report_file, report)
    return report


def _item(proj):
    return next(i for i in run_verify(proj).items if i.name == ITEM)


def test_paths_are_relative_to_the_project(tmp_path):
    proj = _project(tmp_path / "p")
    report = _export(proj)
    paths = sorted(m["path"] for m in report.made)
    assert paths == ["models/checkpoints/merged", "models/quantized/m-Q8_0.gguf"] or all(
        not p.startswith("/") for p in paths
    )
    assert all(m["adapter_sha256"] == report.adapter_fingerprint["sha256"] for m in report.made)


def test_a_copied_project_keeps_its_provenance(tmp_path):
    proj = _project(tmp_path / "p")
    _export(proj)
    shutil.copytree(proj.root, tmp_path / "copy", symlinks=True)  # keeps mtimes, as cp -a does
    copy = type(proj)(tmp_path / "copy")
    item = _item(copy)
    assert item.status == "ok", item.detail


def test_a_partial_export_carries_the_earlier_outputs(tmp_path):
    proj = _project(tmp_path / "p")
    _export(proj)
    report = _export(proj, merged=False, gguf=("Q4_K_M",))
    kinds = sorted((m["kind"], m["path"].rsplit("/", 1)[-1]) for m in report.made)
    assert kinds == [("gguf", "m-Q4_K_M.gguf"), ("gguf", "m-Q8_0.gguf"), ("merged", "merged")]
    item = _item(proj)
    assert item.status == "ok", item.detail


def test_a_failed_export_does_not_disown_verified_outputs(tmp_path):
    proj = _project(tmp_path / "p")
    _export(proj)
    _export(proj, merged=False, gguf=(), ok=False)
    assert len(read_record(proj.export_report_file, ExportReport).made) == 2
    assert _item(proj).status == "ok"


def test_outputs_of_an_earlier_adapter_are_still_flagged(tmp_path):
    proj = _project(tmp_path / "p")
    _export(proj)
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes("retrained"))
    _export(proj, merged=False, gguf=("Q4_K_M",))  # only the Q4_K_M comes from the new adapter
    item = _item(proj)
    assert item.status == "fail" and "another adapter" in item.detail
    assert "m-Q8_0.gguf" in item.detail and "merged" in item.detail and "Q4_K_M" not in item.detail


def test_an_output_deleted_since_is_dropped_from_the_ledger(tmp_path):
    proj = _project(tmp_path / "p")
    _export(proj)
    (proj.quantized_dir / "m-Q8_0.gguf").unlink()
    report = _export(proj, merged=False, gguf=("F16",))
    assert sorted(m["path"].rsplit("/", 1)[-1] for m in report.made) == ["m-F16.gguf", "merged"]


def test_a_report_from_before_the_ledger_is_read_by_its_outputs(tmp_path):
    proj = _project(tmp_path / "p")
    gguf = write_gguf(proj.quantized_dir / "m-Q8_0.gguf")
    old = {
        "schema_version": 1,
        "ok": True,
        "completed_at": utcnow(),
        "adapter_fingerprint": adapter_fingerprint(proj.lora_dir),
        "gguf": [{"type": "Q8_0", "path": str(gguf), "llama_cpp_verified": True}],
        "checks": [{"name": "merge", "ok": True, "detail": "fine"}],
    }
    proj.export_report_file.write_text(json.dumps(old))
    assert _item(proj).status == "ok"
