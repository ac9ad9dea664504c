"""A LoRA adapter's base model: read from its adapter_config.json, judged against model.name (torch-free).

`forge export` and `forge evaluate` ask `adapter_base` the same question and get the same answer:
- no adapter (adapter_config.json or adapter_model.safetensors missing): ForgeError
  `adapter_missing`, exit 1 (an earlier step's output is not there: not ready, run `forge train`);
- an adapter_config.json that is not a JSON object or names no base: `adapter_corrupt`, exit 1;
- a base other than model.name (after resolving both: a built-in's adapter records the folder it
  was built in): `adapter_mismatch`, exit 2. The config contradicts the adapter: merging it into
  its own base would export a model the config does not name, and scoring it on model.name would
  measure nothing. The fix is the config's (the one the adapter was trained with, or model.name).
A base is named as a person wrote it: a built-in's folder by its `builtin:` name (the name in the
folder's forge-builtin.json), not the cache path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.errors import EXIT_FAIL, EXIT_USAGE, ForgeError

BUILTIN_MARKER = "forge-builtin.json"  # written into every built-in's folder (forge.models.loader)


def read_adapter_config(lora_dir: Path) -> dict[str, Any]:
    """adapter_config.json of the adapter in `lora_dir` (both adapter files must be there)."""
    cfg_file = lora_dir / "adapter_config.json"
    weights = lora_dir / "adapter_model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise ForgeError(
            f"no LoRA adapter in {lora_dir} (adapter_config.json and adapter_model.safetensors are needed)",
            fix="run `forge train` first, or point save.lora_path at the adapter folder",
            exit_code=EXIT_FAIL,
            kind="adapter_missing",
        )
    try:
        info = json.loads(cfg_file.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ForgeError(
            f"{cfg_file} is not valid JSON: {e}",
            fix="re-run `forge train`",
            exit_code=EXIT_FAIL,
            kind="adapter_corrupt",
        ) from e
    if not isinstance(info, dict):
        raise ForgeError(
            f"{cfg_file} is not a JSON object (it holds a {type(info).__name__})",
            fix="re-run `forge train`",
            exit_code=EXIT_FAIL,
            kind="adapter_corrupt",
        )
    if not info.get("base_model_name_or_path"):
        raise ForgeError(
            f"{cfg_file} does not name its base model (base_model_name_or_path)",
            fix="set it to the model the adapter was trained on, e.g. builtin:tiny-llama",
            exit_code=EXIT_FAIL,
            kind="adapter_corrupt",
        )
    return info


def display_name(name_or_path: str) -> str:
    """A model as a person names it: a built-in's folder by its `builtin:` name, else as given."""
    marker = Path(name_or_path).expanduser() / BUILTIN_MARKER
    try:
        name = json.loads(marker.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return name_or_path
    return name if isinstance(name, str) and name.startswith("builtin:") else name_or_path


@dataclass(frozen=True)
class AdapterBase:
    recorded: str  # adapter_config.json's base_model_name_or_path, as written
    name: str  # model.name (the adapter's base is that model)
    path: str  # the base's folder (or hub id) to load


def adapter_base(lora_dir: Path, model_name: str, where: str | None = None) -> AdapterBase:
    """The adapter's base, once it is model.name; else the refusal of the module docstring.

    `where`: how messages name the adapter folder (default: the path)."""
    from forge.models.loader import resolve_model_path, same_model

    recorded = str(read_adapter_config(lora_dir)["base_model_name_or_path"])
    if recorded == model_name:
        return AdapterBase(recorded, model_name, resolve_model_path(model_name))
    try:
        base_path = resolve_model_path(recorded)
    except ForgeError:
        base_path = None  # a base that is not here is not model.name, which is about to load
    if base_path is not None and same_model(base_path, model_name):
        return AdapterBase(recorded, model_name, base_path)
    shown = display_name(recorded)
    written = f"{shown!r}" if shown == recorded else f"{shown!r} ({recorded})"
    raise ForgeError(
        f"the adapter in {where or lora_dir} was trained on {written} (adapter_config.json's "
        f"base_model_name_or_path), but model.name is {model_name!r}: exporting or scoring it as "
        f"{model_name!r} would be wrong",
        fix=f"read the config it was trained with (--config FILE, or --set model.name={shown}; evaluate then "
        "needs a `forge baseline` of that model too), or run `forge train` to train an adapter for "
        f"{model_name!r}",
        exit_code=EXIT_USAGE,
        kind="adapter_mismatch",
    )
