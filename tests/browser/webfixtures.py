"""Helpers for the browser tests: realistic project folders and a uvicorn server in a thread."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

# tests/ holds evaluate_files (shared with the unit tests); writer.py imports this module as a script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluate_files import write_metrics  # noqa: E402
from forge.clock import utc_from_timestamp  # noqa: E402
from forge.files import atomic_write_json  # noqa: E402
from forge.project import Project  # noqa: E402
from forge.status import StatusWriter  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def loss_at(step: int) -> float:
    return round(2.2 * 0.985**step + 0.35, 5)


def lr_at(step: int, total: int) -> float:
    warm = 5
    return 2e-4 * (step / warm if step < warm else (total - step) / (total - warm))


def history_row(step: int, total: int) -> dict:
    return {
        "step": step,
        "epoch": round(3 * step / total, 4),
        "loss": loss_at(step),
        "learning_rate": lr_at(step, total),
        "tokens_per_second": 1850.0 + step,
        "time": utc_from_timestamp(1_735_898_400 + 1.2 * step),  # forge.clock's format, as forge train writes
    }


def make_project(root: Path) -> Project:
    p = Project.at(root)
    for d in ("data/splits", "metrics", "models", ".factory", "logs"):
        (p.root / d).mkdir(parents=True, exist_ok=True)
    return p


def write_history(p: Project, steps: range, total: int, eval_every: int = 25) -> None:
    with open(p.history_file, "a", encoding="utf-8") as f:
        for s in steps:
            f.write(json.dumps(history_row(s, total)) + "\n")
            if eval_every and s % eval_every == 0:
                f.write(json.dumps({"step": s, "eval_loss": round(loss_at(s) * 1.08 + 0.02, 5)}) + "\n")


def finished_project(root: Path) -> Project:
    """A run that is done: history, stats, baseline, evaluation with a passed gate, artifacts."""
    p = make_project(root)
    total = 300
    write_history(p, range(1, total + 1), total)
    # baseline.json and evaluation.json through forge's own writers (val loss 2.91 -> 0.71)
    write_metrics(p)
    atomic_write_json(
        p.training_stats_file,
        {"model": "builtin:tiny-llama", "dataset_samples": 1200, "final_loss": 0.36, "total_steps": total, "epochs": 3},
    )
    lora = p.lora_dir
    lora.mkdir(parents=True, exist_ok=True)
    (lora / "adapter_config.json").write_text('{"r": 8}')
    (lora / "adapter_model.safetensors").write_bytes(b"\0" * 3_400_000)
    p.quantized_dir.mkdir(parents=True, exist_ok=True)
    (p.quantized_dir / "model-q8_0.gguf").write_bytes(b"\0" * 5_100_000)
    w = StatusWriter(p.status_file, run_id="run-2", pid=os.getpid(), model="builtin:tiny-llama", backend="hf")
    w.update(started_at="2025-01-03T10:00:00Z", total_steps=total, total_epochs=3, tokens_per_second=2011.0)
    w.phase("done", step=total, epoch=3, loss=loss_at(total), eval_loss=0.41, completed_at="2025-01-03T10:06:00Z")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving create_app(dirs) on 127.0.0.1:<free port>, in a thread."""

    def __init__(self, dirs: list[Path]):
        import uvicorn

        from forge.plan.hardware import HardwareInfo
        from forge.web.app import create_app

        app = create_app(dirs, hardware=HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.config.app.state.stopping.set()
        self.server.should_exit = True
        self.thread.join(timeout=10)
