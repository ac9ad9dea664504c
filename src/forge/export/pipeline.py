"""`forge export` as a pipeline: small steps over one ExportJob (torch only inside the steps).

    plan -> disk -> load -> reference -> merge -> verify_merged      (forge.export.steps_model)
    convert -> mmproj -> verify_gguf -> keep_gguf -> modelfile       (forge.export.steps_gguf)
    (a VLM: steps_image.image_answer between verify_gguf and keep_gguf)

A step that fails stops the pipeline. Its temporary outputs go; what earlier steps verified and
kept stays (the merged model is kept as soon as it is verified, so a GGUF converter error leaves
it usable). The report lists only files that exist, with paths relative to the project. A failed
or refused export that kept nothing leaves the previous report as it was (QA: a `--gguf q4_k_m`
that failed before any work replaced the record of a verified Q8_0 export: its 6 checks became
0, and verify showed the failed run's time as "exported"); one that kept something, or that has
no readable report before it, writes its own (ok: false).
"""

from __future__ import annotations

import time
from typing import Any

import forge.export.steps_gguf as steps_gguf
import forge.export.steps_image as steps_image
import forge.export.steps_model as steps_model
from forge.check.artifacts import adapter_fingerprint
from forge.clock import utcnow
from forge.errors import ForgeError
from forge.export.gguf import parse_types
from forge.export.job import ExportJob
from forge.lock import writes_project
from forge.records.base import write_record
from forge.records.export import ExportReport
from forge.runs_log import records_run

STEPS = (
    steps_model.plan,
    steps_model.disk,
    steps_model.load,
    steps_model.reference,
    steps_model.merge,
    steps_model.verify_merged,
    steps_gguf.convert,
    steps_gguf.mmproj,
    steps_gguf.verify_gguf,
    steps_image.image_answer,
    steps_gguf.keep_gguf,
    steps_gguf.modelfile,
)


@writes_project("export")  # one writer per project: no train replaces the adapter meanwhile
@records_run("export", lambda report: {} if report.ok else {"outcome": "failed", "exit_code": 1})  # metrics/runs.jsonl
def export_project(
    project: Any,
    cfg: Any,
    merged: bool,
    gguf_types: list[str],
    *,
    progress: Any = None,
    notes: list[str] | None = None,
    gate_after: bool = False,
) -> ExportReport:
    """Export the project's adapter; write metrics/export-report.json; raise on any failed check.

    `notes`: what the report should say first (which config was read, forge.config.verb_config).
    `gate_after`: the artifact gate runs next (`--evaluate`; steps_gguf.verify_gguf says what changes)."""
    job = ExportJob(project, cfg, merged, parse_types(gguf_types), progress or (lambda msg: None))
    job.gate_after = gate_after
    job.report.started_at = utcnow()
    job.report.notes.extend(notes or [])
    from forge.check.staleness import adapter_provenance

    _, older = adapter_provenance(project)  # a later run interrupted before replacing the adapter
    if older:
        job.report.notes.append(older.replace("the adapter scored", "the adapter exported", 1))
        job.say(f"note: {older.replace('the adapter scored', 'the adapter exported', 1)}")
    job.report.adapter_fingerprint = adapter_fingerprint(project.outputs(cfg).lora)
    job.previous_report = _previous_report(project)  # its ledger carries on (ExportReport.made)
    t0 = time.monotonic()
    try:
        for step in STEPS:
            step(job)
        job.discard_temps()  # intermediates: the scratch merged model, the f16 the k-quants came from
        job.report.ok = True
    except BaseException as e:
        job.discard_temps()
        job.report.ok = False
        job.report.error = _error_text(e)
        job.report.keep_only_existing()
        replaces = job.previous_report is None or bool(_kept(job.report))
        write = replaces and not _nowhere_to_write(project, e)
        _finish(job, t0, write=write)
        if isinstance(e, ForgeError) and not isinstance(e, steps_model.ExportVerificationError):
            kept = _kept(job.report)
            if kept:  # say what the user still has: the error came after it was verified and kept
                e.message += f" (kept, verified: {', '.join(kept)})"
                job.report.notes.append(f"kept after the failure: {', '.join(kept)}")
                _finish(job, t0, write=write)
        if not replaces and isinstance(e, ForgeError):
            e.message += (
                f"; {project.rel(project.export_report_file)} still records the export of "
                f"{job.previous_report.completed_at or 'before'} (this one kept nothing)"
            )
        raise
    finally:
        job.model = None
    _finish(job, t0, write=True)
    return job.report


def _error_text(e: BaseException) -> str:
    if isinstance(e, ForgeError):
        return e.message
    if isinstance(e, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (forge.interrupts): its text is empty
        from forge.interrupts import signal_name

        return f"interrupted by {signal_name(e)} before the export finished"
    return f"{type(e).__name__}: {e}"


def _finish(job: ExportJob, t0: float, *, write: bool) -> None:
    job.report.keep_only_existing()
    job.report.completed_at = utcnow()
    job.report.seconds = round(time.monotonic() - t0, 2)
    job.report.carry_ledger(job.previous_report, job.project.root)
    if write:
        write_record(job.project.export_report_file, job.report.for_project(job.project.root))


def _previous_report(project: Any) -> ExportReport | None:
    """The report this export replaces, or None (missing or unreadable: then nothing carries on)."""
    from forge.records.base import try_read_record

    path = project.export_report_file
    return try_read_record(path, ExportReport)[0] if path.is_file() else None


def _kept(report: ExportReport) -> list[str]:
    out = [report.merged["path"]] if report.merged and report.merged.get("kept") else []
    return out + [g["path"] for g in report.gguf]


def _nowhere_to_write(project: Any, e: BaseException) -> bool:
    # a full disk with no metrics folder yet: writing the report would fail the same way
    return isinstance(e, ForgeError) and e.kind == "disk_full" and not project.metrics_dir.exists()
