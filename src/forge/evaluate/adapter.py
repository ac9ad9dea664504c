"""The adapter `forge evaluate` scores: checked before any weights load, and fingerprinted (torch-free).

check_adapter(project, lora_dir, model_name) refuses (ForgeError, exit 2, with the fix):
- a missing, empty or out-of-project adapter file, and an adapter_model.safetensors whose header
  does not parse (the checks `forge verify` ticks, from forge.check.artifacts);
- an adapter_config.json that is not JSON or names no base (forge.export.merge.adapter_info, the
  reader `forge export` uses);
- an adapter trained on another base than model.name: the adapter's own record of its base
  (base_model_name_or_path) is what is compared, resolved the way export resolves it, so a
  missing or stale training-stats.json cannot let a tiny-llama adapter be scored on tiny-gemma3.
It returns the adapter's fingerprint (forge.check.artifacts.adapter_fingerprint), which
evaluation.json records so that readers can tell when the adapter was retrained since.
"""

from __future__ import annotations

from pathlib import Path

from forge.check.artifacts import ADAPTER_FILES, adapter_fingerprint, real_file, safetensors_header
from forge.errors import EXIT_USAGE, ForgeError
from forge.project import Project

RETRAIN = "re-run `forge train` (it saves a complete adapter at the end)"


def check_adapter(project: Project, lora_dir: Path, model_name: str) -> dict:
    """The adapter's fingerprint once its files and its base are fit to score on `model_name`."""
    from forge.export.merge import adapter_info

    for name in ADAPTER_FILES:
        f = lora_dir / name
        real, why = real_file(project.root, f)
        if real is None:
            raise ForgeError(
                f"{_rel(project, f)}: {why}; there is no complete LoRA adapter to evaluate",
                fix=f"run `forge train` first, or {RETRAIN}" if why == "missing" else RETRAIN,
                exit_code=EXIT_USAGE,
                kind="adapter_missing" if why == "missing" else "adapter_corrupt",
            )
    weights = lora_dir / "adapter_model.safetensors"
    _, why = safetensors_header(weights)
    if why:
        raise ForgeError(
            f"{_rel(project, weights)} is damaged: {why}", fix=RETRAIN, exit_code=EXIT_USAGE, kind="adapter_corrupt"
        )
    try:
        info = adapter_info(lora_dir)
    except ForgeError as e:
        e.exit_code = EXIT_USAGE  # export's reader says exit 1; for evaluate a damaged input is bad usage
        raise
    except AttributeError:  # valid JSON but not an object: adapter_info calls .get on it
        raise ForgeError(
            f"{_rel(project, lora_dir / 'adapter_config.json')} is not a JSON object",
            fix=RETRAIN,
            exit_code=EXIT_USAGE,
            kind="adapter_corrupt",
        ) from None
    base = str(info["base_model_name_or_path"])
    if not same_base(base, model_name):
        raise ForgeError(
            f"the adapter in {_rel(project, lora_dir)} was trained on {base!r} "
            f"(adapter_config.json's base_model_name_or_path), but model.name is {model_name!r}: "
            "scoring it on another base would measure nothing",
            fix="set model.name to the adapter's base model (and run `forge baseline` for it), "
            "or run `forge train` for the new model",
            exit_code=EXIT_USAGE,
            kind="adapter_mismatch",
        )
    return adapter_fingerprint(lora_dir) or {}  # {} only if a file went away since the checks above


def same_base(adapter_base: str, model_name: str) -> bool:
    """True when the adapter's recorded base is model.name: the same name, or the same folder once
    both are resolved (a built-in's adapter records the resolved folder, not `builtin:...`)."""
    if adapter_base == model_name:
        return True
    from forge.models.loader import resolve_model_path, same_model  # export's comparison too

    try:
        base_path = resolve_model_path(adapter_base)
    except ForgeError:
        return False  # a base that is not here is not model.name, which is about to load
    return same_model(base_path, model_name)


def _rel(project: Project, p: Path) -> str:
    try:
        return str(p.relative_to(project.root))
    except ValueError:
        return str(p)
