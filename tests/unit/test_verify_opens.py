"""forge verify checks what it ticks (issue 17): it opens every GGUF and safetensors output, a link
out of the project or an empty file is never ticked, outputs made from another adapter are
flagged, and an export check that did not run reads "not checked", never passed (no torch)."""

from __future__ import annotations

import json
import os

from fake_outputs import safetensors_bytes, write_gguf, write_safetensors

from evaluate_files import write_metrics
from forge.check.artifacts import adapter_fingerprint
from forge.check.outputs import run_verify
from forge.cli import main
from forge.clock import utcnow
from forge.init.scaffold import init_project
from forge.records.base import write_record
from forge.records.export import ExportReport


def _project(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    lora = proj.lora_dir
    lora.mkdir(parents=True, exist_ok=True)
    (lora / "adapter_config.json").write_text("{}")
    (lora / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    proj.training_stats_file.write_text(json.dumps({"final_loss": 0.3, "total_steps": 5}))
    proj.history_file.write_text("".join(json.dumps({"step": i, "loss": 2.0 / i}) + "\n" for i in range(1, 6)))
    write_metrics(proj)  # a passed gate: the quality verdict (forge.evaluate.verdict)
    return proj


def _items(proj):
    cl = run_verify(proj)
    return cl, {i.name: i for i in cl.items}


def _export(proj, fingerprint="current", checks=None, llama_cpp_verified=True):
    gguf = write_gguf(proj.quantized_dir / "m-Q8_0.gguf")
    (proj.merged_dir / "config.json").parent.mkdir(parents=True, exist_ok=True)
    (proj.merged_dir / "config.json").write_text("{}")
    write_safetensors(proj.merged_dir / "model.safetensors")
    fp = adapter_fingerprint(proj.lora_dir) if fingerprint == "current" else fingerprint
    report = ExportReport(
        ok=True,
        completed_at=utcnow(),  # after the files it lists, as a real export writes it
        adapter_fingerprint=fp,
        merged={"path": str(proj.merged_dir), "kept": True},
        gguf=[{"type": "Q8_0", "path": str(gguf), "llama_cpp_verified": llama_cpp_verified}],
        checks=checks or [{"name": "merge", "ok": True, "detail": "max |Δlogit| 1e-6"}],
    )
    write_record(proj.export_report_file, report)
    return report


def test_an_empty_gguf_is_not_ticked(tmp_path):
    proj = _project(tmp_path)
    (proj.quantized_dir / "model-q8_0.gguf").write_bytes(b"")
    cl, items = _items(proj)
    assert items["GGUF files"].status == "fail" and "empty" in items["GGUF files"].detail and not cl.ready


def test_a_gguf_linking_out_of_the_project_is_not_ticked(tmp_path):
    proj = _project(tmp_path)
    outside = write_gguf(tmp_path / "elsewhere" / "real.gguf")  # a real GGUF, but not this project's
    (proj.quantized_dir / "model-q8_0.gguf").symlink_to(outside)
    _, items = _items(proj)
    assert items["GGUF files"].status == "fail" and "outside the project" in items["GGUF files"].detail
    (proj.quantized_dir / "model-q8_0.gguf").unlink()
    (proj.quantized_dir / "model-q8_0.gguf").symlink_to("/etc/hostname")
    assert _items(proj)[1]["GGUF files"].status == "fail"


def test_a_gguf_is_opened_magic_version_and_tensors(tmp_path):
    proj = _project(tmp_path)
    (proj.quantized_dir / "a.gguf").write_bytes(b"PK\x03\x04" + b"\0" * 40)
    write_gguf(proj.quantized_dir / "b.gguf", tensors=0)
    (proj.quantized_dir / "c.gguf").write_bytes(b"GGUF")
    detail = _items(proj)[1]["GGUF files"].detail
    assert "a.gguf not a GGUF file" in detail and "b.gguf GGUF v3 with no tensors" in detail
    assert "c.gguf truncated" in detail
    for p in proj.quantized_dir.glob("*.gguf"):
        p.unlink()
    write_gguf(proj.quantized_dir / "good.gguf", tensors=2)
    item = _items(proj)[1]["GGUF files"]
    assert item.status == "ok" and "v3, 2 tensors" in item.detail


def test_adapter_and_merged_files_are_opened_and_must_stay_inside(tmp_path):
    proj = _project(tmp_path)
    weights = proj.lora_dir / "adapter_model.safetensors"
    weights.write_bytes(b"x" * 16)
    assert _items(proj)[1]["adapter_model.safetensors"].status == "fail"
    weights.unlink()
    weights.symlink_to(write_safetensors(tmp_path / "other" / "adapter_model.safetensors"))
    item = _items(proj)[1]["adapter_model.safetensors"]
    assert item.status == "fail" and "outside the project" in item.detail
    weights.unlink()
    weights.write_bytes(safetensors_bytes())
    proj.merged_dir.mkdir(parents=True)
    (proj.merged_dir / "config.json").write_text("{}")
    (proj.merged_dir / "model.safetensors").write_bytes(b"")
    assert _items(proj)[1]["merged model"].status == "fail"


def test_outputs_of_the_current_adapter_are_ticked(tmp_path):
    proj = _project(tmp_path)
    _export(proj)
    cl, items = _items(proj)
    assert items["outputs made from this adapter"].status == "ok" and cl.ready
    assert items["export checks"].status == "ok" and items["merged model"].status == "ok"


def test_outputs_of_another_adapter_are_flagged(tmp_path):
    proj = _project(tmp_path)
    _export(proj)
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes("retrained"))
    cl, items = _items(proj)
    item = items["outputs made from this adapter"]
    assert item.status == "fail" and "another adapter" in item.detail and "forge export" in item.fix
    assert not cl.ready


def test_provenance_unknown_reads_not_checked(tmp_path):
    proj = _project(tmp_path)
    _export(proj, fingerprint=None)  # a report from before export recorded the adapter
    item = _items(proj)[1]["outputs made from this adapter"]
    assert item.status == "skip" and item.detail.startswith("not checked")
    proj.export_report_file.unlink()
    item = _items(proj)[1]["outputs made from this adapter"]
    assert item.status == "skip" and "not checked" in item.detail


def test_an_export_check_that_did_not_run_is_not_checked_never_passed(tmp_path, capsys):
    proj = _project(tmp_path)
    checks = [
        {"name": "merge", "ok": True, "detail": "max |Δlogit| 1e-6"},
        # how export reported a check whose llama.cpp API was missing: ok, with "not checked" in its text
        {"name": "llama.cpp stops at end of turn", "ok": True, "target": "GGUF Q8_0",
         "detail": "end-of-generation in llama.cpp: not checked (API missing)"},
        {"name": "llama.cpp tokenizer", "ok": None, "target": "GGUF Q8_0", "detail": "llama-cpp-python missing"},
    ]  # fmt: skip
    _export(proj, checks=checks, llama_cpp_verified=False)
    item = _items(proj)[1]["export checks"]
    assert item.status == "skip" and item.detail.startswith("1 passed; not checked:")
    assert "llama.cpp stops at end of turn" in item.detail and "llama.cpp tokenizer" in item.detail
    assert "llama.cpp inference" in item.detail
    assert main(["verify", str(proj.root)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "– export checks: 1 passed; not checked" in out


def test_records_linked_out_of_the_project_are_not_this_runs(tmp_path):
    proj = _project(tmp_path)
    foreign = tmp_path / "other-run"
    foreign.mkdir()
    for f in (proj.training_stats_file, proj.history_file):
        (foreign / f.name).write_bytes(f.read_bytes())
        f.unlink()
        f.symlink_to(foreign / f.name)
    cl, items = _items(proj)
    assert items["training-stats.json"].status == "fail" and items["loss decreased"].status == "fail"


def test_forge_export_prints_a_check_that_did_not_run_as_not_checked():
    from rich.console import Console

    from forge.commands.export import _print

    report = ExportReport(
        ok=False,
        checks=[
            {"name": "merge", "ok": True, "detail": "fine"},
            {"name": "llama.cpp stops at end of turn", "ok": True, "detail": "not checked (API missing)"},
        ],
    )
    console = Console(record=True, width=200)
    _print(console, report)
    lines = console.export_text().splitlines()
    assert any(line.strip().startswith("✓ merge") for line in lines)
    stop = next(line for line in lines if "end of turn" in line)
    assert "not checked" in stop.split("llama.cpp")[0] and "✓" not in stop


def test_a_merged_model_saved_after_the_export_is_not_judged_by_its_report(tmp_path):
    proj = _project(tmp_path)
    _export(proj)
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(safetensors_bytes("retrained"))
    later = proj.export_report_file.stat().st_mtime + 60  # `forge train` saved a new merged model since
    for f in (proj.merged_dir, proj.quantized_dir / "m-Q8_0.gguf"):
        os.utime(f, (later, later))
    item = _items(proj)[1]["outputs made from this adapter"]
    assert item.status == "skip" and "not made by an export on record" in item.detail
