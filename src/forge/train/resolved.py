"""The resolved config of a run, kept beside its checkpoints (outputs/forge-run.json).

It holds the fully resolved config and a fingerprint of what a resume must not silently change:
the dataset files (sha256), the model and the effective batch. `--resume` compares the saved
fingerprint with the current one and refuses on a difference unless `--force`.
"""

from __future__ import annotations

import json
from pathlib import Path

from forge.config import ForgeConfig
from forge.errors import EXIT_USAGE, ForgeError
from forge.files import atomic_write_json
from forge.files import sha256_file as _sha256
from forge.train.distributed import world_size

RUN_FILE = "forge-run.json"


def sha256_file(path: Path) -> str | None:
    """None for a missing file: a run without a val split still has a fingerprint."""
    return _sha256(path) if path.is_file() else None


def fingerprint(cfg: ForgeConfig, train_path: Path, val_path: Path | None) -> dict:
    return {
        "model": cfg.model.name,
        # per device x accumulation x processes: the same on any number of GPUs (forge.train.distributed)
        "effective_batch": cfg.effective_batch() * world_size(),
        "train_sha256": sha256_file(train_path),
        "val_sha256": sha256_file(val_path) if val_path else None,
        "max_seq_length": cfg.model.max_seq_length,
        "chat_template": cfg.dataset.chat_template,
    }


def write_run_file(output_dir: Path, record: dict) -> Path:
    path = output_dir / RUN_FILE
    atomic_write_json(path, record)
    return path


def read_run_file(output_dir: Path) -> dict | None:
    try:
        return json.loads((output_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def differences(old: dict, new: dict) -> list[str]:
    return [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def check_resume(output_dir: Path, current: dict, force: bool, warn) -> None:
    """Refuse to resume a run whose data, model or batch changed, unless forced."""
    saved = read_run_file(output_dir)
    if saved is None or "fingerprint" not in saved:
        warn(f"no {RUN_FILE} in {output_dir}: cannot check the checkpoint matches this data and model")
        return
    diff = differences(saved["fingerprint"], current)
    if not diff:
        return
    listing = "; ".join(diff)
    if force:
        warn(f"resuming although the run changed (--force): {listing}")
        return
    raise ForgeError(
        f"the checkpoint in {output_dir} belongs to a different run: {listing}",
        "restore the original data/config, or pass --force to resume anyway, or start over without --resume",
        exit_code=EXIT_USAGE,
        kind="resume_mismatch",
    )
