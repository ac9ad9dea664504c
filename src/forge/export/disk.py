"""How many bytes an export writes, and whether the disk has them (pure: no torch).

The estimate is parameters x bytes per parameter of each output type, plus the tokenizer files,
plus the intermediates that exist at the same time (the 16-bit model the GGUF converter reads
when no merged model was asked for; the f16 GGUF that k-quants are made from). It is checked
per filesystem, before anything is written, against `shutil.disk_usage` with a margin.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from forge.config.gguf_types import CONVERTER_TYPES
from forge.errors import ForgeError

# Bytes per parameter of each output type. Block formats carry their scales: Q8_0 stores 32
# int8 + one f16 scale (34 bytes / 32 weights); k-quant mixes are the averages llama.cpp reports
# for its _M mixes (Q4_K_M ~4.9 bits, Q5_K_M ~5.7 bits, Q6_K 6.56 bits), rounded up. One entry per
# forge.config.gguf_types.GGUF_TYPES (a unit test keeps them in step).
BYTES_PER_PARAM = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q6_k": 0.83,
    "q5_k_m": 0.73,
    "q5_k_s": 0.70,
    "q4_k_m": 0.62,
    "q4_k_s": 0.58,
    "q3_k_m": 0.50,
    "q2_k": 0.42,
}
MARGIN_FRACTION = 0.05  # of the estimate, for metadata, vocab and the report
MARGIN_BYTES = 32 * 1024**2


@dataclass
class DiskNeed:
    """Bytes one export needs at its peak, by target folder."""

    params: int
    tokenizer_bytes: int
    items: list[tuple[str, Path, int]] = field(default_factory=list)  # (what, folder, bytes)

    def add(self, what: str, folder: Path, nbytes: int) -> None:
        self.items.append((what, folder, int(nbytes)))

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.items)

    def to_dict(self) -> dict:
        return {
            "params": self.params,
            "bytes_needed": self.total,
            "items": [{"what": w, "folder": str(f), "bytes": n} for w, f, n in self.items],
        }


def safetensors_param_count(folder: str | Path) -> int:
    """Parameters of a safetensors model folder, read from the file headers (no weights loaded)."""
    total = 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        with open(file, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for d in info["shape"]:
                count *= int(d)
            total += count
    return total


def tokenizer_bytes(folder: str | Path) -> int:
    names = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "vocab.json")
    names += ("merges.txt", "chat_template.jinja", "config.json", "generation_config.json")
    return sum((Path(folder) / n).stat().st_size for n in names if (Path(folder) / n).is_file())


def estimate(
    params: int,
    tok_bytes: int,
    *,
    merged_dir: Path | None,
    scratch_dir: Path | None,
    gguf_dir: Path | None,
    gguf_types: list[str],
) -> DiskNeed:
    """The peak bytes: outputs plus the intermediates alive at the same time."""
    need = DiskNeed(params, tok_bytes)
    if merged_dir is not None:
        need.add("merged 16-bit model", merged_dir, params * 2 + tok_bytes)
    elif gguf_types and scratch_dir is not None:
        need.add("16-bit model for the converter (removed after)", scratch_dir, params * 2 + tok_bytes)
    for t in gguf_types:
        need.add(f"GGUF {t.upper()}", gguf_dir, params * BYTES_PER_PARAM[t] + tok_bytes)
    if any(t not in PURE_PYTHON_TYPES for t in gguf_types) and "f16" not in gguf_types:
        need.add("f16 GGUF the k-quants are made from (removed after)", gguf_dir, params * 2 + tok_bytes)
    return need


PURE_PYTHON_TYPES = tuple(CONVERTER_TYPES)  # written by the converter itself; the k-quants go through f16


def _existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check(need: DiskNeed) -> list[dict]:
    """Raise ForgeError(kind='disk_full') where a filesystem lacks the bytes; return what was checked."""
    by_dev: dict[int, dict] = {}
    for what, folder, nbytes in need.items:
        anchor = _existing(Path(folder))
        dev = os.stat(anchor).st_dev
        entry = by_dev.setdefault(dev, {"folder": str(anchor), "bytes_needed": 0, "what": []})
        entry["bytes_needed"] += nbytes
        entry["what"].append(what)
    checked = []
    for entry in by_dev.values():
        usage = shutil.disk_usage(entry["folder"])
        required = int(entry["bytes_needed"] * (1 + MARGIN_FRACTION)) + MARGIN_BYTES
        entry.update(free_bytes=int(usage.free), required_with_margin=required)
        checked.append(entry)
        if usage.free < required:
            raise ForgeError(
                f"not enough disk space for the export in {entry['folder']}: it needs about "
                f"{human(required)} ({', '.join(entry['what'])}; {need.params / 1e6:.1f}M parameters, "
                f"with a {int(MARGIN_FRACTION * 100)}% + {human(MARGIN_BYTES)} margin) and {human(usage.free)} is free",
                fix="free some space, point save.merged_path / save.gguf_path at a larger disk, "
                "or export fewer types (e.g. --gguf q4_k_m)",
                kind="disk_full",
            )
    return checked


def human(n: float) -> str:
    """Bytes for people: 1536 -> '1.5 KiB'."""
    for prefix in ("", "Ki", "Mi", "Gi"):
        if abs(n) < 1024:
            return f"{n:.1f} {prefix}B" if prefix else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
