"""What `forge verify` reads from `metrics/export-report.json` (torch-free): which adapter the
last export was made from, which files it kept, and which of its checks really ran.

A check that did not run is "not checked", never passed: a check written with `ok: null`, a
`status` or `result` of not_checked / skipped, `checked: false`, or (reports written before
forge said so explicitly) a detail that says "not checked", as the llama.cpp end-of-turn check
did when llama-cpp-python lacked the API it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.files import resolve_inside
from forge.records.base import try_read_record

PASSED, FAILED, NOT_CHECKED = "passed", "failed", "not checked"
_NOT_RUN = {"not_checked", "not checked", "skipped", "skip", "not_run"}


@dataclass
class ExportFacts:
    ok: bool
    completed_at: str = ""
    error: str | None = None
    fingerprint: str | None = None  # sha256 of the adapter the export loaded (check.artifacts)
    # every output on record (this export's and earlier ones' it did not remake): resolved path ->
    # {kind, adapter_sha256, exported_at} (forge.records.export.ExportReport.made)
    made: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    not_inferred: list[str] = field(default_factory=list)  # GGUF files llama.cpp did not run

    def states(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {PASSED: [], FAILED: [], NOT_CHECKED: []}
        for c in self.checks:
            name = f"{c.get('target')}: {c.get('name')}" if c.get("target") else str(c.get("name"))
            out[check_state(c)].append(name)
        return out


def check_state(c: dict[str, Any]) -> str:
    status = str(c.get("status") or c.get("result") or "").strip().lower()
    if c.get("ok") is None or status in _NOT_RUN or c.get("checked") is False:
        return NOT_CHECKED
    if "not checked" in str(c.get("detail") or "").lower():
        return NOT_CHECKED
    return PASSED if c.get("ok") is True else FAILED


def read_export_report(project: Any) -> tuple[ExportFacts | None, str]:
    """(facts, "") of the project's export report, or (None, why): why is "" when there is none."""
    from forge.records.export import ExportReport, resolve_output

    path: Path = project.export_report_file
    if not path.exists() and not path.is_symlink():
        return None, ""
    if resolve_inside(project.root, path.relative_to(project.root)) is None:
        return None, f"{path.name} links outside the project: not read"
    report, why = try_read_record(path, ExportReport)
    if report is None:
        return None, why or f"{path.name} is unreadable"
    fp = report.adapter_fingerprint
    not_inferred = [Path(g["path"]).name for g in report.gguf if g.get("path") and not g.get("llama_cpp_verified")]
    facts = ExportFacts(
        ok=report.ok,
        completed_at=report.completed_at,
        error=report.error,
        fingerprint=fp.get("sha256") if isinstance(fp, dict) else None,
        checks=[c for c in report.checks if isinstance(c, dict)],
        not_inferred=not_inferred,
        made={str(resolve_output(project.root, m["path"])): m for m in report.ledger(project.root)},
    )
    return facts, ""
