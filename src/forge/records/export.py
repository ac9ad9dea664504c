"""metrics/export-report.json: what `forge export` made, checked and kept (torch-free).

Written by forge.export on success and on failure; read by verify, the web UI and the demo. Its
keys are the ones the report had before records existed (schema_version 1), plus `mmproj` (the
vision projector GGUF of a vision-language model). Every path it lists exists when it is written:
a step that failed lists nothing it did not keep. Paths inside the project are written relative to
it (reports written before, with absolute paths, still read). A failed or refused export that kept
nothing leaves the previous report as it was (forge.export.pipeline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from forge.records.base import Record

# Each artifact carries the fingerprint of the adapter it was made from, so that `forge evaluate`
# refuses one made from another adapter even when it was copied into place (the report's ledger
# names paths, not contents): the merged folder in this file, a GGUF in this metadata key (the
# k-quant quantizer copies every key of its f16 source).
PROVENANCE_FILE = "forge-provenance.json"
GGUF_ADAPTER_KEY = "forge.adapter_sha256"


class ExportReport(Record):
    REMAKE: ClassVar[str] = "rerun `forge export`"

    ok: bool = False
    started_at: str = ""
    completed_at: str = ""
    adapter: str = ""
    # sha256 of the adapter's files at export time (forge.check.artifacts.adapter_fingerprint):
    # verify flags outputs made from an adapter other than the current one
    adapter_fingerprint: dict[str, str] | None = None
    base_model: str = ""
    chat_template: str = ""
    merged: dict[str, Any] | None = None  # path, dtype, params, bytes, kept
    gguf: list[dict[str, Any]] = []  # type, path, bytes, llama_cpp_verified
    mmproj: dict[str, Any] | None = None  # type, path, bytes
    modelfile: str | None = None
    disk: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    error: str | None = None
    seconds: float = 0.0
    # every output an export verified and kept that is still on disk, each with the adapter it
    # was made from: this export's, and earlier exports' that this one did not remake (a
    # `--gguf q4_k_m` export, or a failed one, leaves the earlier Q8_0 vouched for). Paths are
    # relative to the project, so a copied or moved project keeps its provenance.
    made: list[dict[str, Any]] = []  # {path, kind, adapter_sha256, exported_at}

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        return data if version in (0, 1) else None  # version 0: the same keys, before schema_version

    def to_dict(self) -> dict[str, Any]:
        return self.to_data()

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The failed checks that fail the export: ok None is a check skipped, with its reason; a
        deferred one is left to the artifact gate (forge.export.steps_gguf._defer_to_gate)."""
        return [c for c in self.checks if c["ok"] is False and not c.get("deferred")]

    def keep_only_existing(self) -> None:
        """Drop what a failed step did not leave on disk, so the report never names a missing file."""
        # the paths are absolute while the export runs (for_project makes them relative on disk)
        if self.merged and self.merged.get("kept") and not _exists(self.merged.get("path")):
            self.merged["kept"] = False
        self.gguf = [g for g in self.gguf if _exists(g.get("path"))]
        if self.mmproj and not _exists(self.mmproj.get("path")):
            self.mmproj = None
        if self.modelfile and not _exists(self.modelfile):
            self.modelfile = None

    def for_project(self, root: Path) -> ExportReport:
        """This report as it is written: every path relative to the project where it lies inside
        it, so a copied or moved project reads right (readers still take the absolute paths of
        reports written before, see resolve_output)."""
        rel = lambda p: project_relative(root, p) if isinstance(p, str) and p else p  # noqa: E731
        out = self.model_copy(deep=True)
        out.adapter = rel(out.adapter)
        out.modelfile = rel(out.modelfile)
        if out.merged:
            out.merged["path"] = rel(out.merged.get("path"))
        if out.mmproj:
            out.mmproj["path"] = rel(out.mmproj.get("path"))
        for g in out.gguf:
            if isinstance(g, dict):
                g["path"] = rel(g.get("path"))
        return out

    def own_outputs(self, root: Path) -> list[dict[str, Any]]:
        """What this export itself kept, as ledger entries (merged folder, GGUF files, mmproj)."""
        sha = (self.adapter_fingerprint or {}).get("sha256") if isinstance(self.adapter_fingerprint, dict) else None
        kept: list[tuple[str, Any]] = []
        if self.merged and self.merged.get("kept") and self.merged.get("path"):
            kept.append(("merged", self.merged["path"]))
        kept += [("gguf", g.get("path")) for g in self.gguf if isinstance(g, dict) and g.get("path")]
        if self.mmproj and self.mmproj.get("path"):
            kept.append(("mmproj", self.mmproj["path"]))
        return [
            {
                "path": project_relative(root, path),
                "kind": kind,
                "adapter_sha256": sha,
                "exported_at": self.completed_at,
            }
            for kind, path in kept
            if isinstance(path, str)
        ]

    def ledger(self, root: Path) -> list[dict[str, Any]]:
        """What this export kept, then the `made` entries for other paths (a report written before
        `made` existed, or by a writer that did not fill it, still vouches for its own outputs)."""
        own = self.own_outputs(root)
        seen = {str(resolve_output(root, m["path"])) for m in own}
        rest = [
            m
            for m in self.made
            if isinstance(m, dict)
            and isinstance(m.get("path"), str)
            and str(resolve_output(root, m["path"])) not in seen
        ]
        return own + rest

    def carry_ledger(self, previous: ExportReport | None, root: Path) -> None:
        """Set `made`: this export's outputs, then the previous ledger's still on disk and not remade."""
        own = self.own_outputs(root)
        seen = {str(resolve_output(root, m["path"])) for m in own}
        carried = []
        for m in previous.ledger(root) if previous is not None else []:
            where = resolve_output(root, m["path"])
            if str(where) not in seen and where.exists():
                carried.append({**m, "path": project_relative(root, str(where))})
                seen.add(str(where))
        self.made = own + carried


def project_relative(root: Path, path: str) -> str:
    """`path` relative to the project root where it lies inside it, else as given (absolute); a
    relative `path` is the project's already."""
    try:
        p = Path(path) if Path(path).is_absolute() else Path(root) / path
        return p.resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, OSError):
        return path


def resolve_output(root: Path, stored: str) -> Path:
    """A ledger path on disk: relative ones under the project root, absolute ones as they are."""
    p = Path(stored)
    try:
        return (p if p.is_absolute() else Path(root) / p).resolve()
    except OSError:
        return p


def _exists(path: str | None) -> bool:
    return bool(path) and Path(path).exists()
