"""Is a checkpoint whole, and was it written by forge? Cleaning up what a killed run left (torch-free).

forge resumes only from a checkpoint that passes `problem(path) is None`:

- forge's marker (`forge-complete.json`) is there: it is written last, after the Trainer finished
  the folder, so a folder without it was torn by a kill or was not written by forge at all;
- the marker's manifest (file -> size, recorded when the marker was written) matches the folder:
  a truncated or missing file is caught by name;
- `trainer_state.json` parses and holds a `global_step`;
- the optimizer and scheduler states are there and not empty;
- the model weights are safetensors whose header parses and whose size matches the header
  (no pickled `*.bin` / `*.pt` weights are ever loaded).

`cleanup(output_dir, keep)` runs before a run or a resume: it sets aside (into
`output_dir/set-aside/`, never deletes) every checkpoint forge had marked complete that the run
will not use: one damaged since (a file removed by hand, a copy half-restored) and one newer than
the checkpoint resumed from (its future is replayed), since a user may want it back. It deletes
what never was a checkpoint: folders torn by a kill during their save (no marker), half-deleted
folders and forge's temporary files. It says what went where. `prune(output_dir, n)`
keeps the newest n complete checkpoints; it is called only after the newest one is marked complete
(the Trainer's own rotation ran before forge's marker, so a kill in between could leave no
complete checkpoint at all), and it renames a folder out of the way before deleting it, so a kill
in the middle of a delete never leaves a marked folder with files missing.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

from forge.train.checkpoints import MARKER, Checkpoint, list_checkpoints

WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors")
PICKLED_WEIGHTS = ("adapter_model.bin", "pytorch_model.bin", "model.pt")
REQUIRED = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
DELETING_PREFIX = ".deleting-"


def manifest(path: Path) -> dict[str, int]:
    """file name -> size of every file in a finished checkpoint folder (the marker excluded)."""
    return {
        p.name: p.stat().st_size for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith((MARKER, "."))
    }


def safetensors_problem(path: Path) -> str | None:
    """None when the file is a whole safetensors file (header parses, data as long as it says)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name}: truncated ({size} bytes, no safetensors header)"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8 or n > 100 * 1024 * 1024:
                return f"{path.name}: truncated (header of {n} bytes, file of {size})"
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        return f"{path.name}: unreadable ({e})"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    want = 8 + n + max(ends, default=0)
    if size != want:
        return f"{path.name}: truncated ({size} bytes, the header says {want})"
    return None


def problem(path: Path) -> str | None:
    """Why this checkpoint folder cannot be resumed from (naming the file), or None when it can."""
    marker = path / MARKER
    if not marker.is_file():
        return f"no {MARKER}: torn by a kill while it was written, or not written by forge"
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{MARKER} is unreadable"
    for name in PICKLED_WEIGHTS:
        if (path / name).exists():
            return f"{name}: pickled weights; forge writes and loads safetensors only"
    state = path / "trainer_state.json"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "global_step" not in data:
            return "trainer_state.json holds no global_step"
    except FileNotFoundError:
        return "trainer_state.json is missing"
    except (OSError, ValueError):
        return "trainer_state.json is empty or not JSON"
    from forge.train.distributed import World

    mismatch = World.current().checkpoint_problem(path)  # FSDP and DDP checkpoints keep the optimizer apart
    if mismatch:
        return mismatch
    for name in REQUIRED[1:]:
        p = path / name
        if name == "optimizer.pt" and (path / "optimizer.bin").is_file():
            p = path / "optimizer.bin"  # accelerate's name for it under FSDP
        if not p.is_file():
            return f"{name} is missing (the optimizer/scheduler state cannot be restored)"
        if p.stat().st_size == 0:
            return f"{p.name} is empty"
    weights = [path / n for n in WEIGHT_FILES if (path / n).is_file()]
    if not weights:
        return f"no model weights ({' or '.join(WEIGHT_FILES)})"
    for w in weights:
        bad = safetensors_problem(w)
        if bad:
            return bad
    for name, size in (info.get("files") or {}).items():
        p = path / name
        if not p.is_file():
            return f"{name} is missing (listed in {MARKER})"
        if p.stat().st_size != size:
            return f"{name} has {p.stat().st_size} bytes, {MARKER} recorded {size}"
    return None


def newest_valid(output_dir: Path, warn: Callable[[str], None] | None = None) -> Checkpoint | None:
    """The newest checkpoint that passes `problem`; every newer one is reported through `warn`."""
    for ckpt in reversed(list_checkpoints(output_dir)):
        bad = problem(ckpt.path)
        if bad is None:
            return ckpt
        if warn:
            warn(f"skipping checkpoint {ckpt.path}: {bad}")
    return None


def _remove(path: Path) -> None:
    """Rename out of the way first (atomic), then delete: a kill mid-delete leaves only a .deleting- folder."""
    if not path.exists():
        return
    doomed = path.with_name(f"{DELETING_PREFIX}{path.name}")
    shutil.rmtree(doomed, ignore_errors=True)
    try:
        os.replace(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


def cleanup(output_dir: Path, keep: Checkpoint | None, log: Callable[[str], None] | None = None) -> list[str]:
    """Delete what a killed run left behind in output_dir; returns the names deleted.

    `keep`: the checkpoint a resume starts from (None: a fresh run, every checkpoint goes).
    """
    removed: list[str] = []
    if not output_dir.is_dir():
        return removed
    for p in output_dir.iterdir():
        if p.name.startswith(DELETING_PREFIX) or p.name.startswith("tmp-checkpoint-"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p.name)
        elif p.is_file() and p.name.startswith(".") and p.name.endswith((".tmp", ".partial")):
            p.unlink(missing_ok=True)
            removed.append(p.name)
    for ckpt in list_checkpoints(output_dir):
        if keep is not None and ckpt.step == keep.step:
            for t in ckpt.path.glob(f".{MARKER}*.tmp"):
                t.unlink(missing_ok=True)
            continue
        if keep is None:
            why = "fresh run"
        elif ckpt.step > keep.step:
            why = "newer than the resume point"
        else:
            why = problem(ckpt.path)
            if why is None:
                continue
        removed.append(ckpt.path.name)
        if not (ckpt.path / MARKER).is_file():  # torn by a kill while it was saved: it never was a checkpoint
            _remove(ckpt.path)
            if log:
                log(f"deleted torn checkpoint {ckpt.path.name} (no {MARKER}: its save never finished)")
            continue
        where = set_aside(ckpt.path)
        if log:
            log(f"set aside checkpoint {ckpt.path.name} ({why}) in {where}: move it back, or delete it when not needed")
    return removed


SET_ASIDE = "set-aside"


def set_aside(path: Path) -> Path:
    """Move a checkpoint folder out of the run's way into `set-aside/` beside it (one rename, so a
    kill leaves it in one place or the other); a name taken there gets a suffix. Returns where."""
    aside = path.parent / SET_ASIDE
    aside.mkdir(exist_ok=True)
    target, n = aside / path.name, 1
    while target.exists():
        n += 1
        target = aside / f"{path.name}.{n}"
    os.replace(path, target)
    return target


def prune(output_dir: Path, keep_n: int | None) -> list[str]:
    """Keep the newest `keep_n` complete checkpoints (None: keep all)."""
    if not keep_n:
        return []
    complete = [c for c in list_checkpoints(output_dir) if c.complete]
    doomed = complete[:-keep_n] if len(complete) > keep_n else []
    for c in doomed:
        _remove(c.path)
    return [c.path.name for c in doomed]


def planned_steps(trainer) -> int:
    """The optimizer steps Trainer.train will run in all (the Trainer's own formula; torch)."""
    import math

    args = trainer.args
    if args.max_steps and args.max_steps > 0:
        return int(args.max_steps)
    n = len(trainer.get_train_dataloader())
    per_epoch = max(n // args.gradient_accumulation_steps + int(n % args.gradient_accumulation_steps > 0), 1)
    return math.ceil(args.num_train_epochs * per_epoch)


def load_finished(trainer, path: Path):
    """Take the weights and state of a checkpoint at the run's last step, without training (torch).

    A kill after the last checkpoint and before the adapter was saved leaves such a checkpoint;
    resuming it through Trainer.train would run one step past max_steps (transformers 5 trains a
    step before it checks the limit), so forge loads it and goes on to saving instead.
    """
    from transformers.trainer_callback import TrainerState

    trainer._load_from_checkpoint(str(path))
    trainer.state = TrainerState.load_from_json(str(path / "trainer_state.json"))
    return trainer


def clean_swap_leftovers(final: Path) -> list[str]:
    """Siblings a kill left around an adapter/merged folder swap (forge.files.write_swapped).

    `.NAME.tmp-RUN`: a half-written new folder, deleted. `.NAME.old` (`.NAME.old-RUN` from an older
    forge): the previous folder, moved aside just before the new one was swapped in; if the kill
    came between the two renames (no `final`), it is moved back, else deleted.
    """
    done: list[str] = []
    if not final.parent.is_dir():
        return done
    for p in sorted(final.parent.glob(f".{final.name}.old*")):
        if not final.exists():
            os.replace(p, final)
            done.append(f"restored {final.name} from {p.name}")
        else:
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"deleted {p.name}")
    for p in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
        done.append(f"deleted {p.name}")
    return done
