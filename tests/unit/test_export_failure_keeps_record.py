"""A failed or refused export leaves the last good export's record, and its report's paths are
relative to the project.

QA (issue 28): after a verified `export --merged --gguf q8_0`, a `forge export --gguf q4_k_m` that
failed before any work overwrote metrics/export-report.json: its 6 checks became 0, and verify
then showed the failed run's time as "exported".
"""

from __future__ import annotations

import json
import shutil

import pytest
from test_export_ledger import _export, _project

from forge.check.export_report import read_export_report
from forge.config import ForgeConfig
from forge.errors import ForgeError
from forge.export import pipeline


def _snapshot(proj) -> dict[str, bytes]:
    return {
        str(p.relative_to(proj.root)): p.read_bytes()
        for p in sorted(proj.root.rglob("*"))
        if p.is_file() and "models" in p.parts or p == proj.export_report_file
    }


def _refused(job):
    raise ForgeError("llama.cpp's converter is not installed", "pip install 'factory-forge[export]'")


def _stopped(job):
    raise KeyboardInterrupt


@pytest.mark.parametrize("step", [_refused, _stopped])
def test_a_failed_export_leaves_the_previous_report_and_its_files(tmp_path, monkeypatch, step):
    proj = _project(tmp_path / "p")
    _export(proj)  # the verified merged + Q8_0 export
    before = _snapshot(proj)
    monkeypatch.setattr(pipeline, "STEPS", (step,))
    with pytest.raises((ForgeError, KeyboardInterrupt)) as failed:
        pipeline.export_project(proj, ForgeConfig(), False, ["q4_k_m"])
    assert _snapshot(proj) == before  # byte for byte: the report and every file it lists
    if failed.type is ForgeError:
        assert "still records the export of" in failed.value.message
    facts, _ = read_export_report(proj)
    assert facts.ok and facts.checks


def test_a_failed_export_that_kept_something_writes_its_own(tmp_path, monkeypatch):
    proj = _project(tmp_path / "p")
    _export(proj)
    gguf = proj.quantized_dir / "m-Q4_K_M.gguf"

    def keep_then_fail(job):
        shutil.copy(proj.quantized_dir / "m-Q8_0.gguf", gguf)
        job.report.gguf.append({"type": "Q4_K_M", "path": str(gguf), "llama_cpp_verified": True})
        raise ForgeError("the Modelfile could not be written")

    monkeypatch.setattr(pipeline, "STEPS", (keep_then_fail,))
    with pytest.raises(ForgeError):
        pipeline.export_project(proj, ForgeConfig(), False, ["q4_k_m"])
    doc = json.loads(proj.export_report_file.read_text())
    assert doc["ok"] is False and [g["path"] for g in doc["gguf"]] == ["models/quantized/m-Q4_K_M.gguf"]
    assert {m["path"] for m in doc["made"]} >= {"models/quantized/m-Q8_0.gguf", "models/quantized/m-Q4_K_M.gguf"}


def test_the_report_names_paths_relative_to_the_project_and_a_moved_project_reads_right(tmp_path, monkeypatch):
    proj = _project(tmp_path / "p")
    gguf = proj.quantized_dir / "m-Q8_0.gguf"
    _export(proj)  # makes the files

    def keep(job):
        job.report.merged = {"path": str(proj.merged_dir), "kept": True, "bytes": 4, "dtype": "float32"}
        job.report.gguf = [{"type": "Q8_0", "path": str(gguf), "llama_cpp_verified": True}]
        job.report.modelfile = str(proj.quantized_dir / "Modelfile")
        job.report.adapter = str(proj.lora_dir)  # the plan step sets it
        (proj.quantized_dir / "Modelfile").write_text("FROM ./m-Q8_0.gguf\n")

    monkeypatch.setattr(pipeline, "STEPS", (keep,))
    pipeline.export_project(proj, ForgeConfig(), True, ["q8_0"])
    text = proj.export_report_file.read_text()
    assert str(tmp_path) not in text, text
    doc = json.loads(text)
    assert doc["merged"]["path"] == "models/checkpoints/merged" and doc["modelfile"] == "models/quantized/Modelfile"
    assert doc["gguf"][0]["path"] == "models/quantized/m-Q8_0.gguf" and doc["adapter"] == "models/checkpoints/lora"
    moved = tmp_path / "moved"
    shutil.move(str(proj.root), moved)
    facts, why = read_export_report(type(proj)(moved))
    assert facts is not None and str(moved / "models/quantized/m-Q8_0.gguf") in facts.made, (why, facts)


def test_an_older_report_with_absolute_paths_still_reads(tmp_path):
    proj = _project(tmp_path / "p")
    _export(proj)
    doc = json.loads(proj.export_report_file.read_text())
    for m in doc["made"]:
        m["path"] = str(proj.root / m["path"])
    proj.export_report_file.write_text(json.dumps(doc))
    facts, _ = read_export_report(proj)
    assert str((proj.quantized_dir / "m-Q8_0.gguf").resolve()) in facts.made
