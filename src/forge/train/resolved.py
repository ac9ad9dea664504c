"""The resolved config of a run, kept beside its checkpoints (outputs/forge-run.json, RunFile).

It holds the config that actually ran and a fingerprint of what a resume must not silently
change: the dataset files (sha256), the model and the effective batch. `--resume` compares the
saved fingerprint with the current one and refuses on a difference unless `--force`.

The recorded config is also what `--resume` trains with (`resume_config`): a resumed run is the
run as it was resolved, not the config file as it reads today. Before, a resume rebuilt the config
from the file plus this call's --set, so an interrupted `--set training.max_steps=300` run resumed
with the file's 40 steps and was declared done at once, and cadences set by --set were silently
replaced by the checkpoint's. Only the keys in RESUME_SAFE_KEYS / RESUME_SAFE_SECTIONS may be
changed by a `--set` on resume.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import PrivateAttr

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


def run_file_of(recipe) -> RunFile:
    """outputs/forge-run.json's record of a Recipe (forge.train.recipe), from its settings as they are
    now: the recipe writes it again after an OOM retry changed them."""
    ckpt = recipe.start.checkpoint if recipe.start else None
    return RunFile(
        run_id=recipe.run_id,
        started_at=recipe.started_at,
        backend=recipe.backend.name,
        resumed_from=str(ckpt.path) if ckpt else None,
        # a resume keeps the fingerprint of the run it continues (a --force'd mismatch stays visible)
        fingerprint=(recipe.start.fingerprint if recipe.start and recipe.start.fingerprint else recipe.fp),
        plan=recipe.plan.to_dict(),
        resolved=recipe.resolution.to_dict() if getattr(recipe, "resolution", None) else None,
        config=recipe.settings.cfg.to_json_dict(),
        changes=list(recipe.settings.changes),
    )


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


# ------------------------------------------------------------------------------------ resume
# What a `--set` may change when `--resume` continues a run. Everything else shaped the
# optimisation the checkpoint holds (weights, optimizer moments, scheduler, data order) or is
# fixed by the checkpoint itself (the Trainer takes logging/eval/save cadences from
# trainer_state.json and would silently ignore new ones), so a different value is refused.
RESUME_SAFE_KEYS = {
    "training.max_steps": "where the run ends (after the checkpoint's step): train further",
    "training.num_train_epochs": "where the run ends, for a run without max_steps",
    "training.output_dir": "where the run's checkpoints are",
    "training.backend": "how the same optimisation runs (a machine without Unsloth, say)",
    "training.oom_retries": "how often a CUDA OOM is retried",
    "training.save_total_limit": "how many checkpoints are kept",
    "training.report_to": "experiment trackers",
    "training.vram_budget_gb": "the memory the plan checks against",
}
RESUME_SAFE_SECTIONS = ("save", "evaluation")  # what happens after training, not what it trains
# Keys the fingerprint guards (it holds what they make: the model, the effective batch, the data
# hashes, ...): a --set of them passes through, and start_point's check_resume judges the result,
# as it always has (exit 2, `resume_mismatch` in the status; --force resumes anyway). So the same
# effective batch split differently is the same run, and a changed model is refused by name.
FINGERPRINTED_KEYS = (
    "model.name",
    "model.max_seq_length",
    "dataset.chat_template",
    "dataset.path",
    "dataset.val_path",
    "training.per_device_train_batch_size",
    "training.gradient_accumulation_steps",
)


class ResumedConfig(ForgeConfig):
    """The config of a resumed run: the run's own, with notes on where each value came from.

    The notes ride on the config (a private attribute, copied with it and never serialised) to
    RunSettings, which logs them once the run log is open (forge.train.settings)."""

    _resume_notes: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @property
    def resume_notes(self) -> list[tuple[str, str]]:
        """(level, message) pairs: "info" or "warning"."""
        return self._resume_notes


def _lookup(data: dict, path: list[str]):
    node: object = data
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def _is_safe(key: str) -> bool:
    return key in RESUME_SAFE_KEYS or key.split(".", 1)[0] in RESUME_SAFE_SECTIONS or key == "$schema"


def recorded_config(saved: RunFile) -> dict:
    """The run file's config as the run was configured, ready to be resolved again.

    Two values in it are per-process or resolved and are turned back: the batch (recorded
    divided across the data-parallel world, which the recipe divides again; the accumulation
    is multiplied back, as forge.train.distributed.batch divides it first) and the chat
    template and sequence length (the fingerprint keeps them as written: "auto" resolves to the
    same template again, and the fingerprint check then compares like with like).
    """
    data = json.loads(json.dumps(saved.config))
    t = data.setdefault("training", {})
    fp = saved.fingerprint or {}
    b, a = t.get("per_device_train_batch_size"), t.get("gradient_accumulation_steps")
    total = fp.get("effective_batch")
    if isinstance(b, int) and isinstance(a, int) and isinstance(total, int) and b * a and total % (b * a) == 0:
        t["gradient_accumulation_steps"] = a * (total // (b * a))
    if "chat_template" in fp:
        data.setdefault("dataset", {})["chat_template"] = fp["chat_template"]
    if "max_seq_length" in fp:
        data.setdefault("model", {})["max_seq_length"] = fp["max_seq_length"]
    data.pop("$schema", None)
    return data


def resume_config(
    configured: ForgeConfig, overrides: list[str], output_dir: Path, checkpoint_step: int, *, force: bool = False
) -> ForgeConfig:
    """The config `--resume` continues with: the run's recorded one, plus the safe `--set` values.

    `configured` is training-config.json (or --config) + this call's --set, the config a new run
    would get; it is what runs only when the output folder has no recorded config (an older
    forge, or a deleted forge-run.json). A `--set` that differs from the run and is not in
    RESUME_SAFE_KEYS (nor fingerprinted) is refused (exit 2), `force` or not; an end at or behind the checkpoint's step
    is refused always: it would end the run at once and call it done.
    """
    from forge.config import apply_overrides, parse_override, validate_dict

    run_file = output_dir / RUN_FILE
    saved = read_run_file(output_dir)
    if saved is None or not saved.config:
        out = ResumedConfig.model_validate(configured.to_json_dict())
        out.resume_notes.append(
            ("warning", f"no recorded config in {run_file}: resuming with the config file and --set as they are now")
        )
        return out
    base = recorded_config(saved)
    base.setdefault("training", {})["output_dir"] = configured.training.output_dir  # where we found it
    source = f"{run_file} (the run being resumed) + --set"
    run_cfg = validate_dict(base, str(run_file))  # a ConfigError (exit 2) names the key, as for the file
    full = validate_dict(apply_overrides(base, overrides), source)
    old, new = run_cfg.to_json_dict(), full.to_json_dict()
    refused, applied = [], []
    for item in overrides:
        parts, _ = parse_override(item)
        key = ".".join(parts)
        was, now = _lookup(old, parts), _lookup(new, parts)
        if was == now:
            continue
        if _is_safe(key):
            applied.append(f"{key}: {was!r} -> {now!r}")
        elif key in FINGERPRINTED_KEYS:
            applied.append(f"{key}: {was!r} -> {now!r} (checked against the run's fingerprint)")
        else:
            # refused with --force too: the Trainer restores the optimizer, the schedule and the
            # cadences from the checkpoint, so such a value would be recorded but not used (QA:
            # --resume --force --set training.learning_rate=0.05 trained on at the old rate)
            refused.append(f"--set {item}: the run was trained with {key}={was!r}")
    if refused:
        lines = "\n".join(f"- {r}" for r in refused)
        safe = ", ".join([*RESUME_SAFE_KEYS, *(f"{s}.*" for s in RESUME_SAFE_SECTIONS)])
        raise ForgeError(
            f"--resume continues the run in {output_dir} with the settings recorded in {run_file}; "
            f"these --set values would change what its checkpoint was trained with:\n{lines}",
            f"drop those --set values to continue the run, or start a new run with them: "
            f"`forge train --force --set ...` (without --resume; --resume --force cannot apply them either: "
            f"the checkpoint restores them). A resume may change only: {safe}",
            exit_code=EXIT_USAGE,
            kind="resume_mismatch",
        )
    end = full.training.max_steps
    if end is not None and end <= checkpoint_step and end != run_cfg.training.max_steps:
        raise ForgeError(
            f"--set training.max_steps={end}: the checkpoint in {output_dir} is already at step {checkpoint_step} "
            f"(the run planned {run_cfg.training.max_steps or 'its epochs'}); a resume would train nothing and "
            "call the run done",
            f"pass a training.max_steps above {checkpoint_step} to train further, or drop it to finish the run "
            "as planned, or start a new run with `forge train --force`",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    out = ResumedConfig.model_validate(new)
    notes = out.resume_notes
    notes.append(("info", f"resuming: the settings recorded in {run_file} are the run's config"))
    notes.extend(("info", f"resuming: --set {change}") for change in applied)
    ignored = _ignored_file_values(configured.to_json_dict(), new, {".".join(parse_override(i)[0]) for i in overrides})
    if ignored:
        notes.append(
            (
                "warning",
                "resuming: the config file differs from the run being resumed; the run's values are kept: "
                + "; ".join(ignored)
                + " (pass --set KEY=VALUE for a safe change, or --force without --resume for a new run)",
            )
        )
    return out


def _ignored_file_values(file_cfg: dict, run_cfg: dict, overridden: set[str]) -> list[str]:
    """Keys where the config file (as loaded now) differs from the resumed run's config.

    "auto" values are skipped (the run holds what they resolved to); a micro-batch an OOM retry
    halved shows here, and the run goes on with it (the same effective batch)."""
    out = []
    for section, values in file_cfg.items():
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            key = f"{section}.{name}"
            if key in overridden or value == "auto" or key == "training.output_dir":
                continue
            kept = (run_cfg.get(section) or {}).get(name)
            if value != kept:
                out.append(f"{key} {kept!r} (file: {value!r})")
    return out
