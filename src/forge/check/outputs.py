"""The outputs checklist (`forge verify`): required artifacts, optional artifacts, quality (torch-free).

The original script's after-training checklist: the adapter files and training-stats.json must
exist; a merged model and GGUF files are optional; the final loss should be below 1.0 (ideally
below 0.5), the loss should have gone down, and the run must not have hit CUDA out-of-memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

from forge.check.before import Checklist
from forge.config import ConfigError, ForgeConfig, load_config
from forge.project import Project
from forge.status import read_status

SECTIONS = ("Required", "Optional", "Quality")
GOOD_LOSS = 0.5
MAX_LOSS = 1.0


def _config(project: Project) -> ForgeConfig:
    try:
        return load_config(project.config_file)
    except ConfigError:
        return ForgeConfig()


def _rel(project: Project, p: Path) -> str:
    try:
        return str(p.relative_to(project.root))
    except ValueError:
        return str(p)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def train_losses(history: Path) -> list[float]:
    out = []
    if not history.exists():
        return out
    for line in history.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("loss"), (int, float)):
            out.append(float(row["loss"]))
    return out


def loss_trend(losses: list[float]) -> tuple[float, float] | None:
    """Mean of the first and of the last window (a tenth of the run, 1 to 10 points): noise-tolerant."""
    if len(losses) < 2:
        return None
    w = max(1, min(10, len(losses) // 10 or 1))
    return fmean(losses[:w]), fmean(losses[-w:])


def _required(project: Project, cfg: ForgeConfig, cl: Checklist) -> dict | None:
    sec = "Required"
    lora = project.path(cfg.save.lora_path)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        f = lora / name
        if f.is_file() and f.stat().st_size > 0:
            cl.add(sec, name, "ok", _rel(project, f))
        else:
            cl.add(
                sec, name, "fail", f"{_rel(project, f)} missing", "run `forge train` (it saves the adapter at the end)"
            )
    stats = _read_json(project.training_stats_file)
    rel = _rel(project, project.training_stats_file)
    if stats is None:
        cl.add(sec, "training-stats.json", "fail", f"{rel} missing or unreadable", "run `forge train` to completion")
    elif stats.get("final_loss") is None or not stats.get("total_steps"):
        cl.add(sec, "training-stats.json", "fail", f"{rel} has no final metrics", "run `forge train` to completion")
    else:
        cl.add(sec, "training-stats.json", "ok", f"{stats['total_steps']} steps, final loss {stats['final_loss']:.4f}")
    return stats


def _optional(project: Project, cfg: ForgeConfig, cl: Checklist) -> None:
    sec = "Optional"
    merged = project.path(cfg.save.merged_path) if cfg.save.merged_path else project.merged_dir
    if (merged / "config.json").is_file() and any(merged.glob("*.safetensors")):
        cl.add(sec, "merged model", "ok", _rel(project, merged))
    else:
        cl.add(
            sec, "merged model", "warn", f"{_rel(project, merged)} not present", "`forge export --merged` (for vLLM)"
        )
    ggufs = sorted(project.quantized_dir.glob("*.gguf"))
    if ggufs:
        cl.add(sec, "GGUF files", "ok", ", ".join(p.name for p in ggufs))
    else:
        cl.add(sec, "GGUF files", "warn", "none in models/quantized/", "`forge export --gguf q8_0` (llama.cpp, Ollama)")


def _quality(project: Project, stats: dict | None, cl: Checklist) -> None:
    sec = "Quality"
    final = (stats or {}).get("final_loss")
    if final is None:
        cl.add(sec, f"final loss < {MAX_LOSS}", "fail", "no final loss recorded", "run `forge train` to completion")
    elif final < GOOD_LOSS:
        cl.add(sec, f"final loss < {GOOD_LOSS}", "ok", f"{final:.4f}")
    elif final < MAX_LOSS:
        cl.add(
            sec,
            f"final loss < {GOOD_LOSS}",
            "warn",
            f"{final:.4f}: below {MAX_LOSS} but above the ideal {GOOD_LOSS}",
            "more data or epochs usually lower it; check eval loss too",
        )
    else:
        cl.add(
            sec,
            f"final loss < {MAX_LOSS}",
            "fail",
            f"{final:.4f}",
            "train longer (epochs / max_steps), check the data and chat template, or raise the learning rate",
        )

    losses = train_losses(project.history_file)
    trend = loss_trend(losses)
    if trend is None and stats and stats.get("first_train_loss") is not None and final is not None:
        trend = (stats["first_train_loss"], final)
    if trend is None:
        cl.add(sec, "loss decreased", "fail", "no loss history", "run `forge train` to completion")
    elif trend[1] < trend[0]:
        cl.add(sec, "loss decreased", "ok", f"{trend[0]:.4f} -> {trend[1]:.4f}")
    else:
        cl.add(
            sec,
            "loss decreased",
            "fail",
            f"{trend[0]:.4f} -> {trend[1]:.4f}: the loss did not go down",
            "lower training.learning_rate (diverging) or raise it / train longer (flat)",
        )

    st = read_status(project.status_file)
    oom_log = False
    if project.log_file.exists():
        text = project.log_file.read_text(encoding="utf-8", errors="replace").lower()
        oom_log = "cuda out of memory" in text or "outofmemoryerror" in text
    if st.error_kind == "oom" or oom_log:
        where = "the status" if st.error_kind == "oom" else "logs/training.log"
        cl.add(
            sec,
            "no CUDA out-of-memory",
            "fail",
            f"out-of-memory recorded in {where}",
            "lower per_device_train_batch_size or max_seq_length and retrain",
        )
    else:
        cl.add(sec, "no CUDA out-of-memory", "ok", "none recorded")


def run_verify(project: Project) -> Checklist:
    cfg = _config(project)
    cl = Checklist(config=cfg)
    stats = _required(project, cfg, cl)
    _optional(project, cfg, cl)
    _quality(project, stats, cl)
    return cl
