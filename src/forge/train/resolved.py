"""The resolved config of a run, kept beside its checkpoints (outputs/forge-run.json, RunFile).

It holds the config that actually ran and a fingerprint of what a resume must not silently
change: the dataset files (sha256), the model and the effective batch. `--resume` compares the
saved fingerprint with the current one and refuses on a difference unless `--force`.
"""

from __future__ import annotations

from pathlib import Path

from forge.config import ForgeConfig
from forge.errors import EXIT_USAGE, ForgeError
from forge.files import sha256_file as _sha256
from forge.records.base import try_read_record, write_record
from forge.records.train import RunFile

RUN_FILE = "forge-run.json"


def sha256_file(path: Path) -> str | None:
    """None for a missing file: a run without a val split still has a fingerprint."""
    return _sha256(path) if path.is_file() else None


def fingerprint(cfg: ForgeConfig, train_path: Path, val_path: Path | None, world_size: int = 1) -> dict:
    return {
        "model": cfg.model.name,
        # per device x accumulation x processes: the same on any number of GPUs (forge.train.distributed)
        "effective_batch": cfg.effective_batch() * world_size,
        "train_sha256": sha256_file(train_path),
        "val_sha256": sha256_file(val_path) if val_path else None,
        "max_seq_length": cfg.model.max_seq_length,
        "chat_template": cfg.dataset.chat_template,
    }


def write_run_file(output_dir: Path, record: RunFile | dict) -> Path:
    path = output_dir / RUN_FILE
    write_record(path, record if isinstance(record, RunFile) else RunFile(**record))
    return path


def read_run_file(output_dir: Path, warn=None) -> RunFile | None:
    """The run file, or None when it is missing or unreadable (said through `warn`)."""
    record, why = try_read_record(output_dir / RUN_FILE, RunFile)
    if why and warn:
        warn(why)
    return record


def differences(old: dict, new: dict) -> list[str]:
    return [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def check_resume(output_dir: Path, current: dict, force: bool, warn) -> None:
    """Refuse to resume a run whose data, model or batch changed, unless forced."""
    saved = read_run_file(output_dir, warn)
    if saved is None or not saved.fingerprint:
        warn(f"no {RUN_FILE} in {output_dir}: cannot check the checkpoint matches this data and model")
        return
    diff = differences(saved.fingerprint, current)
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
