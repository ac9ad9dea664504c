"""What `forge verify` opens before it ticks an artifact (torch-free, no numpy).

A file is ticked only when it is a real file of the project (a symlink that leads out of the
project is not one), not empty, and its header is what its name says: a GGUF starts with the
magic `GGUF`, a known version and at least one tensor; a safetensors file starts with the length
of a JSON header that parses. Reading the headers costs a few bytes per file, however large.

The adapter's fingerprint (sha256 of adapter_model.safetensors and adapter_config.json) is what
`forge export` records in its report, so that verify can tell outputs made from another adapter.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from forge.files import resolve_inside, sha256_file

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (1, 2, 3)
MAX_SAFETENSORS_HEADER = 100 << 20  # safetensors itself refuses headers above 100 MB
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


def real_file(root: Path, path: Path) -> tuple[Path | None, str]:
    """(the resolved file, "") when `path` is a non-empty file inside `root`, else (None, why).

    `root` is the project, or for an output the config puts outside the project (an absolute
    save path), the folder it was put in: a link out of that is still not ticked."""
    root = Path(root)
    try:
        rel = path.relative_to(root)
    except ValueError:
        root, rel = path.parent, Path(path.name)
    target = resolve_inside(root, rel)
    if target is None:
        return None, "links outside the project"
    if not target.is_file():
        return None, "a broken link" if path.is_symlink() else "missing"
    if target.stat().st_size == 0:
        return None, "empty (0 bytes)"
    return target, ""


def gguf_header(path: Path) -> tuple[dict | None, str]:
    """({version, tensors, metadata_keys}, "") of a GGUF file, or (None, why)."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        return None, f"unreadable: {e.strerror or e}"
    if len(head) < 4 or head[:4] != GGUF_MAGIC:
        return None, f"not a GGUF file (starts with {head[:4]!r}, not b'GGUF')"
    if len(head) < 24:
        return None, f"truncated: a {len(head)}-byte GGUF header"
    for order in ("<", ">"):  # GGUF is little-endian unless written for a big-endian machine
        version, tensors, keys = struct.unpack(order + "IQQ", head[4:24])
        if version in GGUF_VERSIONS:
            break
    else:
        return None, f"unknown GGUF version {struct.unpack('<I', head[4:8])[0]}"
    if tensors == 0:
        return None, f"GGUF v{version} with no tensors"
    return {"version": version, "tensors": tensors, "metadata_keys": keys}, ""


def safetensors_header(path: Path) -> tuple[dict | None, str]:
    """({tensors}, "") of a safetensors file whose JSON header parses, or (None, why)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                return None, f"truncated: {len(raw)} bytes"
            (n,) = struct.unpack("<Q", raw)
            if n == 0 or n > MAX_SAFETENSORS_HEADER or 8 + n > size:
                return None, "not a safetensors file (its header length does not fit the file)"
            header = json.loads(f.read(n).decode("utf-8"))
    except OSError as e:
        return None, f"unreadable: {e.strerror or e}"
    except (ValueError, UnicodeDecodeError):
        return None, "not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return None, "not a safetensors file (its header is not a JSON object)"
    tensors = len([k for k in header if k != "__metadata__"])
    if tensors == 0:
        return None, "a safetensors file with no tensors"
    ends = [v.get("data_offsets", [0, 0])[-1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    data = size - 8 - n
    if ends and all(isinstance(e, int) for e in ends) and max(ends) > data:  # cut short after its header
        return None, f"truncated: its header describes {max(ends)} bytes of tensors, the file holds {data}"
    return {"tensors": tensors}, ""


def adapter_fingerprint(lora_dir: Path) -> dict | None:
    """{"sha256": combined, FILE: sha256, ...} of the adapter's two files; None when one is missing."""
    files = {}
    for name in ADAPTER_FILES:
        p = Path(lora_dir) / name
        if not p.is_file():
            return None
        files[name] = sha256_file(p)
    combined = hashlib.sha256("".join(f"{n}:{files[n]}\n" for n in ADAPTER_FILES).encode()).hexdigest()
    return {"sha256": combined, **files}
