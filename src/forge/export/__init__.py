"""Merged model and GGUF files from the saved LoRA adapter, verified (`forge export`).

The work is a pipeline of small steps over one job object (forge.export.pipeline); this package
imports no torch at import time. `export_project` is also what `forge train` calls after training
when save.merged_path / save.gguf_path are set.
"""

from __future__ import annotations

from typing import Any

from forge.export.gguf import parse_types
from forge.export.pipeline import export_project
from forge.export.steps_model import ExportVerificationError
from forge.records.export import ExportReport

__all__ = ["ExportReport", "ExportVerificationError", "export_project", "default_request", "parse_types"]


def default_request(cfg: Any) -> tuple[bool, list[str]]:
    """(merged, gguf types) when the user named neither: the config's save section, else merged + Q8_0."""
    merged = bool(cfg.save.merged_path)
    types = parse_types(cfg.save.gguf_quantization) if cfg.save.gguf_path else []
    if not merged and not types:
        return True, ["q8_0"]
    return merged, types
