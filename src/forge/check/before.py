"""The pre-training checklist (`forge check`); the outputs checklist lives in verify.py.

Each item is ticked or carries its reason and its fix. Data and config are answered without torch;
torch is imported only by hardware.probe().
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from forge.config import ConfigError, ForgeConfig, load_config
from forge.plan.hardware import HardwareInfo
from forge.plan.vram_table import min_vram_gb, table_row
from forge.project import Project

MIN_SAMPLES = 100
RECOMMENDED_SAMPLES = 1000


@dataclass
class Item:
    section: str
    name: str
    status: str  # ok | warn | fail
    detail: str = ""
    fix: str | None = None


@dataclass
class Checklist:
    items: list[Item] = field(default_factory=list)
    config: ForgeConfig | None = None
    hardware: HardwareInfo | None = None
    data: dict = field(default_factory=dict)

    def add(self, section: str, name: str, status: str, detail: str = "", fix: str | None = None) -> Item:
        item = Item(section, name, status, detail, fix)
        self.items.append(item)
        return item

    @property
    def ready(self) -> bool:
        return not any(i.status == "fail" for i in self.items)

    def sections(self) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for i in self.items:
            out.setdefault(i.section, []).append(i)
        return out

    def to_dict(self) -> dict:
        return {
            "ready": self.ready,
            "sections": {s: [asdict(i) for i in items] for s, items in self.sections().items()},
            "hardware": self.hardware.to_dict() if self.hardware else None,
            "data": self.data,
        }


SECTIONS = ("Data Ready", "Hardware Ready", "Config Ready", "Baseline Done")


def _check_config(project: Project, cl: Checklist, overrides: list[str] | None) -> None:
    sec = "Config Ready"
    path = project.config_file
    try:
        cfg = load_config(path, overrides)
    except ConfigError as e:
        cl.add(sec, "config valid", "fail", e.render(), "fix the keys named above (`forge schema` lists them all)")
        return
    cl.config = cfg
    where = path.name if path.exists() else "defaults (no training-config.json)"
    cl.add(sec, "config valid", "ok", f"{where}; model {cfg.model.name}")


def _check_data(project: Project, cl: Checklist) -> None:
    from forge.data.validate import validate_splits

    sec = "Data Ready"
    cfg = cl.config or ForgeConfig()
    train_path = project.path(cfg.dataset.path)
    val_path = project.path(cfg.dataset.val_path) if cfg.dataset.val_path else None
    train, val = validate_splits(train_path, val_path)
    cl.data = {"train": train.to_dict(), "val": val.to_dict() if val else None}
    rel = cfg.dataset.path
    if not train.exists:
        cl.add(
            sec,
            "train split exists",
            "fail",
            f"{rel} not found",
            "run the format step, or point dataset.path at your training file",
        )
        return
    cl.add(sec, "train split exists", "ok", rel)
    if train.fatal or train.counts:
        bad = sum(train.counts.values())
        lines = [p.render(rel) for p in train.problems[:10]]
        detail = train.fatal or f"{bad} bad record(s): " + ", ".join(f"{k} x{v}" for k, v in train.counts.items())
        if lines:
            detail += "\n" + "\n".join(lines)
        cl.add(
            sec,
            "format valid",
            "fail",
            detail,
            "fix or drop the lines named above (`forge check --json` lists them all)",
        )
    else:
        conv = ", ".join(f"{k} x{v}" for k, v in train.conversions.items())
        cl.add(
            sec,
            "format valid",
            "ok",
            f"{train.format}; {train.valid} conversations" + (f"; converted {conv}" if conv else ""),
        )
    warnings = getattr(train, "warnings", None)
    if warnings:
        lines = [p.render(rel) for p in train.warning_lines[:5]]
        cl.add(
            sec,
            "format warnings",
            "warn",
            ", ".join(f"{k} x{v}" for k, v in warnings.items()) + ("\n" + "\n".join(lines) if lines else ""),
            "tolerated; remove blank lines and save as UTF-8 without BOM to silence them",
        )
    n = train.valid
    if n < MIN_SAMPLES:
        cl.add(
            sec,
            f"at least {MIN_SAMPLES} samples",
            "fail",
            f"{n} usable samples",
            f"collect at least {MIN_SAMPLES} conversations ({RECOMMENDED_SAMPLES}+ recommended)",
        )
    elif n < RECOMMENDED_SAMPLES:
        cl.add(
            sec,
            f"{RECOMMENDED_SAMPLES}+ samples recommended",
            "warn",
            f"{n} samples",
            "more data usually helps; fine-tuning on a few hundred examples mostly changes style",
        )
    else:
        cl.add(sec, f"{RECOMMENDED_SAMPLES}+ samples", "ok", f"{n} samples")
    if train.duplicates:
        cl.add(sec, "no duplicates", "warn", f"{train.duplicates} duplicate(s) in train", "deduplicate the train split")
    if val is None:
        cl.add(
            sec,
            "val split present",
            "warn",
            "dataset.val_path is null: no eval loss, no gate",
            "set dataset.val_path to a held-out split",
        )
    elif not val.exists:
        cl.add(
            sec,
            "val split present",
            "fail",
            f"{cfg.dataset.val_path} not found",
            "split off a few percent of the data into data/splits/val.jsonl",
        )
    elif val.fatal or val.counts:
        cl.add(sec, "val split valid", "fail", val.fatal or val.summary(), "fix the val file like the train file")
    else:
        cl.add(sec, "val split present", "ok", f"{val.valid} conversations")
        if val.leaked:
            cl.add(
                sec,
                "no train/val leakage",
                "warn",
                f"{val.leaked} val row(s) also in train",
                "remove them from val, or eval loss will look better than it is",
            )


def _check_hardware(cl: Checklist, hw: HardwareInfo) -> None:
    sec = "Hardware Ready"
    cl.hardware = hw
    if hw.torch_version:
        cl.add(
            sec,
            "PyTorch works",
            "ok",
            f"torch {hw.torch_version}" + (f", CUDA {hw.cuda_version}" if hw.cuda_version else ""),
        )
    else:
        cl.add(sec, "PyTorch works", "fail", hw.problem or "torch missing", "pip install torch")
        return
    if hw.has_gpu:
        g = hw.gpus[0]
        more = f" (+{len(hw.gpus) - 1} more)" if len(hw.gpus) > 1 else ""
        cl.add(sec, "GPU available", "ok", f"{g.name}, {g.vram_gb} GB, bf16 {'yes' if g.bf16 else 'no'}{more}")
    else:
        cl.add(
            sec,
            "GPU available",
            "warn",
            f"{hw.problem}; forge falls back to the CPU (transformers+PEFT+TRL)",
            "CPU training suits tiny and small models (builtin:gemma-3-270m); use an NVIDIA GPU for real ones",
        )


def _check_model_fits(cl: Checklist, hw: HardwareInfo) -> None:
    sec = "Config Ready"
    cfg = cl.config
    if cfg is None:
        return
    name = cfg.model.name
    need = min_vram_gb(name, cfg.model.load_in_4bit and hw.has_gpu)
    if hw.has_gpu:
        row = table_row(hw.vram_gb)
        suggestion = row.model if row else "a model under 1B parameters"
        if need is None:
            cl.add(
                sec,
                "model suits the hardware",
                "warn",
                f"size of {name} unknown; cannot check it fits {hw.vram_gb} GB",
                "run `forge plan` for an estimate",
            )
        elif need > hw.vram_gb:
            cl.add(
                sec,
                "model suits the hardware",
                "fail",
                f"{name} needs about {need} GB; the GPU has {hw.vram_gb} GB",
                f"use {suggestion} (the VRAM table's choice), or `forge plan --write`",
            )
        else:
            cl.add(sec, "model suits the hardware", "ok", f"{name}: about {need} GB of {hw.vram_gb} GB")
    else:
        p = need
        if name.startswith("builtin:") or (p is not None and p <= 3.0):
            cl.add(sec, "model suits the hardware", "ok", f"{name} is small enough for the CPU")
        else:
            cl.add(
                sec,
                "model suits the hardware",
                "fail",
                f"{name} is too large to fine-tune on a CPU",
                "set model.name to builtin:gemma-3-270m (or builtin:tiny-llama to try the workflow), or use a GPU",
            )


def _check_baseline(project: Project, cl: Checklist) -> None:
    sec = "Baseline Done"
    f = project.baseline_file
    if not f.exists():
        cl.add(
            sec, "metrics/baseline.json", "warn", "no baseline yet; evaluate's gate needs one", "run `forge baseline`"
        )
        return
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
        model = data.get("model", "?")
        cl.add(sec, "metrics/baseline.json", "ok", f"model {model}, val loss {data.get('val_loss', '?')}")
    except (OSError, ValueError) as e:
        cl.add(sec, "metrics/baseline.json", "fail", f"unreadable: {e}", "rerun `forge baseline`")


def run_checklist(
    project: Project, overrides: list[str] | None = None, hardware: HardwareInfo | None = None
) -> Checklist:
    cl = Checklist()
    _check_config(project, cl, overrides)
    _check_data(project, cl)
    if hardware is None:
        from forge.plan.hardware import probe

        hardware = probe()
    _check_hardware(cl, hardware)
    _check_model_fits(cl, hardware)
    _check_baseline(project, cl)
    order = {s: i for i, s in enumerate(SECTIONS)}
    cl.items.sort(key=lambda i: order.get(i.section, 99))
    return cl
