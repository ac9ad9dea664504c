"""How forge writes and reads project files (torch-free): one atomic writer, one swap-into-place,
one fingerprint, one way to open a file that must stay inside the project.

Every file forge writes for others to read is replaced atomically (temporary file in the same
folder, flush, fsync, os.replace) so a reader sees the old or the new document, never half of one,
and a new file gets mode 0644, not mkstemp's 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FILE_MODE = 0o644


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old or the new file, never a torn one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # a read-only, full or forbidden folder: the error names the file meant, not a temp name
        raise OSError(e.errno, e.strerror, str(path)) from e
    try:
        # mkstemp makes the file 0600: a new output gets 0644 (other tools read these files), a
        # replaced one keeps the mode its owner gave it
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = FILE_MODE
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno and e.filename in (None, tmp):  # ENOSPC at the write: name the file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def clean_stale_temp_files(folder: Path) -> list[Path]:
    """Delete what a writer killed between mkstemp and os.replace left: `.NAME.XXXXXXXX.tmp`.

    Only the lock holder may call this (a live writer's temporary file would go with them).
    """
    removed = []
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            if p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (data files and GGUFs can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def readable_modes(path: Path) -> None:
    """Give the files of an output (a file or a folder) mode 0644 where a library left them 0600.

    safetensors (through save_pretrained) writes its file via a private temporary file, so the
    adapter, the merged model and the checkpoints' weights came out 0600 while every other output
    is 0644: other tools (vLLM, llama.cpp, a serving user) must read them. Other modes are the
    user's and stay."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    for f in files:
        try:
            if f.stat().st_mode & 0o777 == 0o600:
                os.chmod(f, FILE_MODE)
        except OSError:
            continue


def swap_into_place(tmp: Path, final: Path) -> None:
    """Move a complete, checked output from `tmp` to `final`; an old `final` goes only once the new
    one is in place, so a kill at any moment leaves the old or the new output, never neither.
    Leftovers of a killed swap (`.NAME.old`) are what `clean_swap_leftovers` below removes."""
    _never_a_project(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    readable_modes(tmp)
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old")
        remove_path(old)
        os.replace(final, old)
        os.replace(tmp, final)
        remove_path(old)
    else:
        os.replace(tmp, final)


def _never_a_project(final: Path) -> None:
    """The last guard under every output swap: a folder that holds a forge project (its .factory/
    or its training-config.json) is never swapped away, whatever config path led here."""
    from forge.errors import ForgeError

    for marker in (".factory", "training-config.json"):
        if (final / marker).exists():
            raise ForgeError(
                f"refusing to replace {final}: it holds {marker}, a forge project (an output path that is the "
                "project folder, or above it)",
                "point save.lora_path / save.merged_path at a folder of its own (their defaults: "
                "models/checkpoints/lora, models/checkpoints/merged)",
                exit_code=2,
                kind="config",
            )


def write_swapped(final: Path, tag: str, write: Callable[[Path], None], complete: Callable[[Path], bool]) -> None:
    """Write a folder into a temporary sibling, check it with `complete`, then swap it in."""
    from forge.errors import ForgeError

    _never_a_project(final)  # before the work, not only before the swap
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{tag}")
    remove_path(tmp)
    try:
        write(tmp)
        if not complete(tmp):
            raise ForgeError(f"saving {final} produced an incomplete folder", "see logs/training.log")
        swap_into_place(tmp, final)
    finally:
        remove_path(tmp)


def resolve_inside(root: Path, relative: str | Path) -> Path | None:
    """`root / relative` with every symlink resolved, or None when that lands outside `root`.

    Whatever forge serves or reads on a user's behalf (the web UI, verify) goes through this, so a
    link that points out of the project is treated as absent rather than followed."""
    root = Path(root).resolve()
    try:
        target = (root / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if target != root and root not in target.parents:
        return None
    return target


def publish_built_folder(built: Path, target: Path, marker: str) -> None:
    """Move a freshly built cache folder (a built-in model) to `target` in one `os.replace`.

    The folder is either absent or complete; when a concurrent builder got there first (its copy
    carries `marker`), theirs is kept and ours is left for the caller's cleanup.
    """
    built.chmod(0o755)  # mkdtemp makes it private; the cache is shared like ~/.cache/huggingface
    try:
        os.replace(built, target)
    except OSError:
        if not (target / marker).exists():  # not a concurrent builder's finished copy
            shutil.rmtree(target, ignore_errors=True)
            os.replace(built, target)
