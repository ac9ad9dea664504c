"""metrics/export-report.json: what `forge export` made, checked and kept (torch-free).

Written by forge.export on success and on failure; read by verify, the web UI and the demo. Its
keys are the ones the report had before records existed (schema_version 1), plus `mmproj` (the
vision projector GGUF of a vision-language model). Every path it lists exists when it is written:
a step that failed lists nothing it did not keep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from forge.records.base import Record


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

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        return data if version in (0, 1) else None  # version 0: the same keys, before schema_version

    def to_dict(self) -> dict[str, Any]:
        return self.to_data()

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]

    def keep_only_existing(self) -> None:
        """Drop what a failed step did not leave on disk, so the report never names a missing file."""
        if self.merged and self.merged.get("kept") and not _exists(self.merged.get("path")):
            self.merged["kept"] = False
        self.gguf = [g for g in self.gguf if _exists(g.get("path"))]
        if self.mmproj and not _exists(self.mmproj.get("path")):
            self.mmproj = None
        if self.modelfile and not _exists(self.modelfile):
            self.modelfile = None


def _exists(path: str | None) -> bool:
    return bool(path) and Path(path).exists()
