"""The one object an export's steps share (torch-free): what was asked, where it goes, what exists.

Each step reads what earlier steps left here and adds its own results. Temporary outputs are
registered in `temps` the moment they are named, so a failure removes exactly those; a verified
output moves to its final name with forge.files.swap_into_place and leaves `temps`, so a later
failure keeps it (and the report, which lists only files that exist, says so).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.files import remove_path, swap_into_place
from forge.records.export import ExportReport


@dataclass
class ExportJob:
    project: Any
    cfg: Any
    want_merged: bool
    gguf_types: list[str]
    say: Callable[[str], None]
    report: ExportReport = field(default_factory=ExportReport)
    previous_report: ExportReport | None = None  # the one on disk before this export
    # `forge export --evaluate`: the artifact gate scores every file written, so a k-quant's lower
    # greedy agreement with the merged model is the gate's to judge (steps_gguf.verify_gguf)
    gate_after: bool = False

    # where things go (the plan step)
    lora_dir: Path | None = None
    base_name: str = ""
    base_path: str = ""
    merged_final: Path | None = None
    gguf_dir: Path | None = None
    slug: str = "model"
    vision: bool = False  # a vision-language model: processor files, mmproj
    params: int = 0

    # the model and its reference outputs (the load and reference steps)
    model: Any = None
    tokenizer: Any = None
    device: str = "cpu"
    dtype_name: str = "bfloat16"
    trained: Any = None  # forge.models.templates.ChatTemplate of dataset.chat_template
    jinja: str = ""  # the chat template the exported model carries
    special: dict[str, str] = field(default_factory=dict)
    eos_id: int | None = None
    eot_id: int | None = None
    eos_ids: list[int] = field(default_factory=list)
    stop_ids: list[int] = field(default_factory=list)
    prompts: list[list[int]] = field(default_factory=list)
    prompt_texts: list[str] = field(default_factory=list)
    ref: list[Any] = field(default_factory=list)
    hf_cont: list[list[int]] = field(default_factory=list)
    hf_full: list[Any] = field(default_factory=list)
    image_ref: Any = None  # a VLM's answer about a picture (forge.export.image_reference), for llama.cpp's

    # files (the merge and GGUF steps)
    merged_dir: Path | None = None  # the verified merged folder the converter reads (temporary or final)
    gguf_tmp: dict[str, Path] = field(default_factory=dict)  # type -> temporary GGUF
    mmproj_tmp: Path | None = None
    temps: list[Path] = field(default_factory=list)

    def temp(self, path: Path) -> Path:
        """Register `path` as a temporary output (removed on failure) and clear what a killed run left."""
        remove_path(path)
        self.temps.append(path)
        return path

    def keep(self, tmp: Path, final: Path) -> Path:
        """Move a verified output into place; from now on a failure leaves it there."""
        swap_into_place(tmp, final)
        if tmp in self.temps:
            self.temps.remove(tmp)
        return final

    def discard_temps(self) -> None:
        for p in self.temps:
            remove_path(p)
        self.temps.clear()

    def check(self, entry: dict[str, Any], target: str | None = None) -> dict[str, Any]:
        if target:
            entry["target"] = target
        self.report.checks.append(entry)
        return entry


def partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def final_name(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".partial"))


def slug(name: str) -> str:
    tail = name.rstrip("/").split("/")[-1].split(":")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "model"


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
