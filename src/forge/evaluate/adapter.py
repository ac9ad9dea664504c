"""The adapter `forge evaluate` scores: checked before any weights load, and fingerprinted (torch-free).

check_adapter(project, lora_dir, model_name) refuses, with the fix:
- a missing, empty or out-of-project adapter file, and an adapter_model.safetensors whose header
  does not parse (the checks `forge verify` ticks, from forge.check.artifacts): exit 1
  (`adapter_missing` / `adapter_corrupt`: train's output is not there or not whole, not ready);
- through forge.models.adapter_base, the question `forge export` asks too: an adapter_config.json
  that is not JSON or names no base (exit 1), and an adapter trained on another base than
  model.name (`adapter_mismatch`, exit 2: the config contradicts it). The adapter's own record of
  its base is what is compared, so a missing or stale training-stats.json cannot let a tiny-llama
  adapter be scored on tiny-gemma3; a built-in base is named by its builtin: name.
It returns the adapter's fingerprint (forge.check.artifacts.adapter_fingerprint), which
evaluation.json records so that readers can tell when the adapter was retrained since.
"""

from __future__ import annotations

from pathlib import Path

from forge.check.artifacts import ADAPTER_FILES, adapter_fingerprint, real_file, safetensors_header
from forge.errors import EXIT_FAIL, ForgeError
from forge.project import Project

RETRAIN = "re-run `forge train` (it saves a complete adapter at the end)"


def check_adapter(project: Project, lora_dir: Path, model_name: str) -> dict:
    """The adapter's fingerprint once its files and its base are fit to score on `model_name`."""
    from forge.models.adapter_base import adapter_base

    for name in ADAPTER_FILES:
        f = lora_dir / name
        real, why = real_file(project.root, f)
        if real is None:
            raise ForgeError(
                f"{project.rel(f)}: {why}; there is no complete LoRA adapter to evaluate",
                fix=f"run `forge train` first, or {RETRAIN}" if why == "missing" else RETRAIN,
                exit_code=EXIT_FAIL,
                kind="adapter_missing" if why == "missing" else "adapter_corrupt",
            )
    weights = lora_dir / "adapter_model.safetensors"
    _, why = safetensors_header(weights)
    if why:
        raise ForgeError(
            f"{project.rel(weights)} is damaged: {why}", fix=RETRAIN, exit_code=EXIT_FAIL, kind="adapter_corrupt"
        )
    adapter_base(lora_dir, model_name, project.rel(lora_dir))  # export's question, export's answer
    return adapter_fingerprint(lora_dir) or {}  # {} only if a file went away since the checks above
