"""Small but well-formed outputs for the verify tests: a safetensors file with one tensor and a
GGUF written by the gguf package's own writer (what llama.cpp's converter uses)."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def safetensors_bytes(name: str = "w") -> bytes:
    header = json.dumps({name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0\0\0\0"


def write_safetensors(path: Path, name: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(safetensors_bytes(name))
    return path


def write_gguf(path: Path, tensors: int = 1) -> Path:
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), "llama")
    for i in range(tensors):
        w.add_tensor(f"t{i}", np.zeros(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
