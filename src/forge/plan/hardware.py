"""Probe the hardware once -> HardwareInfo, plain data passed to plan and check.

torch is imported here and only inside probe(), so the CLI's start, config and data checks never
pay for it; a machine without torch gets an answer too (no GPU, and why).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field


@dataclass
class GPUInfo:
    name: str
    vram_gb: float
    capability: str  # "9.0"
    bf16: bool
    free_gb: float | None = None  # free at probe time (other processes hold the rest); None: unknown
    limit_gb: float | None = None  # torch's per-process memory fraction, where one is set


@dataclass
class HardwareInfo:
    torch_version: str | None = None
    cuda_version: str | None = None
    gpus: list[GPUInfo] = field(default_factory=list)
    cpu_count: int = field(default_factory=lambda: os.cpu_count() or 1)
    ram_gb: float | None = None
    problem: str | None = None  # why there is no usable GPU / torch, when there is not
    unsloth: bool | None = None  # Unsloth importable (probe: find_spec); None: not looked at
    load_average: float | None = None  # 1-minute load when probed: a shared CPU trains slower (plan's time)

    @property
    def unsloth_reason(self) -> str | None:
        """Why Unsloth cannot run on this machine, or None; a described machine (unsloth None, as
        tests and `--vram-gb` plans describe one) is taken to have it installed."""
        from forge.plan.backend_choice import unsloth_reason

        return unsloth_reason(self.has_gpu, True if self.unsloth is None else self.unsloth)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def vram_gb(self) -> float:
        return self.gpus[0].vram_gb if self.gpus else 0.0

    @property
    def bf16(self) -> bool:
        return bool(self.gpus) and self.gpus[0].bf16

    def to_dict(self) -> dict:
        d = asdict(self)
        d["has_gpu"] = self.has_gpu
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HardwareInfo:
        gpus = [GPUInfo(**g) for g in d.get("gpus", [])]
        return cls(
            torch_version=d.get("torch_version"),
            cuda_version=d.get("cuda_version"),
            gpus=gpus,
            cpu_count=d.get("cpu_count", 1),
            ram_gb=d.get("ram_gb"),
            problem=d.get("problem"),
            load_average=d.get("load_average"),
        )


def _ram_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        return None


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def probe() -> HardwareInfo:
    from forge.plan.backend_choice import unsloth_installed

    info = HardwareInfo(ram_gb=_ram_gb(), unsloth=unsloth_installed(), load_average=_load())
    try:
        import torch
    except ImportError:
        info.problem = "PyTorch is not installed (pip install torch)"
        return info
    info.torch_version = torch.__version__
    info.cuda_version = torch.version.cuda
    try:
        available = torch.cuda.is_available()
    except Exception as e:  # a broken driver raises instead of answering False
        info.problem = f"CUDA did not initialise: {e}"
        return info
    if not available:
        info.problem = "no CUDA GPU visible" + (" (this PyTorch is a CPU build)" if not torch.version.cuda else "")
        return info
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        major, minor = p.major, p.minor
        info.gpus.append(
            GPUInfo(
                name=p.name,
                vram_gb=round(p.total_memory / 1024**3, 1),
                capability=f"{major}.{minor}",
                bf16=major >= 8,
                free_gb=_free_gb(torch, i),
                limit_gb=_limit_gb(torch, i, p.total_memory),
            )
        )
    return info


def _free_gb(torch, index: int) -> float | None:
    try:
        free, _ = torch.cuda.mem_get_info(index)
    except Exception:  # some drivers and MIG slices do not answer
        return None
    return round(free / 1024**3, 1)


def free_bytes(device=None) -> int | None:
    """What this process can still allocate on a CUDA device: the driver's free memory plus torch's
    unused cache, and never past a cap set with torch.cuda.set_per_process_memory_fraction (how
    forge's benchmarks emulate a smaller card, where the driver still reports the whole card free).
    None without CUDA. torch is imported only by a caller that has it loaded already."""
    import torch

    dev = torch.device(device) if device is not None else None
    if (dev is not None and dev.type != "cuda") or not torch.cuda.is_available():
        return None
    index = dev.index if dev is not None and dev.index is not None else torch.cuda.current_device()
    free, total = torch.cuda.mem_get_info(index)
    allocated = torch.cuda.memory_allocated(index)
    room = free + torch.cuda.memory_reserved(index) - allocated
    fraction = _fraction(torch, index)
    if fraction < 1.0:
        room = min(room, int(fraction * total) - allocated)
    return max(int(room), 0)


def _limit_gb(torch, index: int, total: int) -> float | None:
    """The cap torch.cuda.set_per_process_memory_fraction set (how forge emulates a smaller card)."""
    fraction = _fraction(torch, index)
    return round(fraction * total / 1024**3, 1) if fraction < 1.0 else None


def _fraction(torch, index: int) -> float:
    """The process's share of the card (set_per_process_memory_fraction); 1.0 where none can be read."""
    try:
        return float(torch.cuda.get_per_process_memory_fraction(index))
    except Exception:  # a torch without the getter
        return 1.0
