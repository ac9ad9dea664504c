"""The GPU path on a real CUDA card (skipped without one): the Unsloth backend end to end on a tiny
model and on a random-init Llama-3.2-1B shape (artifacts, status, resume after SIGTERM), the OOM
backoff under an artificial memory cap, and plan's memory estimate against the measured peak.

Each run is its own `forge` process, as a user would start it (Unsloth must be imported first).
Figures go to $OUT/gpu-tests.jsonl when OUT is set (docs/gpu-validation.md quotes them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
ROOT = Path(__file__).resolve().parents[2]


def _record(name: str, **figures) -> None:
    out = os.environ.get("OUT")
    if out:
        with open(Path(out) / "gpu-tests.jsonl", "a") as f:
            f.write(json.dumps({"test": name, **figures}, default=str) + "\n")


def _forge(args, *, env=None, pre="", timeout=540, wait=True):
    code = f"{pre}\nimport sys\nfrom forge.cli import main\nsys.exit(main({args!r}))"
    e = dict(os.environ, **(env or {}))
    e["PYTHONPATH"] = f"{ROOT / 'src'}:{ROOT}:" + e.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if not wait:
        return proc
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def _sets(*items):
    out = []
    for s in items:
        out += ["--set", s]
    return out


def _project(tmp_path, rows, val_rows):
    from bench.common import write_jsonl

    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "proj")
    write_jsonl(proj.train_file, rows)
    write_jsonl(proj.val_file, val_rows)
    return proj


@pytest.fixture(scope="module")
def llama1b():
    sys.path.insert(0, str(ROOT))
    from bench.common import build_model

    return build_model("llama-1b", Path("/tmp/forge-bench/models/llama-3.2-1b"))


def test_unsloth_tiny_end_to_end(tmp_path):
    from tests.conftest import chat_rows

    proj = _project(tmp_path, chat_rows(120), chat_rows(12, "v"))
    t = time.time()
    code, out = _forge(
        ["train", str(proj.root), "--backend", "unsloth"]
        + _sets(
            "model.name=builtin:tiny-llama",
            "dataset.chat_template=llama-3",
            "model.load_in_4bit=false",
            "model.max_seq_length=256",
            "training.max_steps=8",
            "training.save_steps=4",
            "training.eval_steps=4",
        )
    )
    assert code == 0, out[-6000:]
    status = json.loads(proj.status_file.read_text())
    assert status["phase"] == "done" and status["backend"] == "unsloth"
    assert status["step"] == 8
    assert (proj.lora_dir / "adapter_config.json").exists()
    assert (proj.lora_dir / "adapter_model.safetensors").exists()
    stats = json.loads(proj.training_stats_file.read_text())
    assert stats["backend"] == "unsloth" and stats["total_steps"] == 8
    assert proj.history_file.read_text().strip()
    _record("unsloth_tiny_end_to_end", seconds=time.time() - t, final_loss=stats["final_loss"])


def test_unsloth_1b_plan_sigterm_resume_and_estimate(tmp_path, llama1b):
    from bench.common import make_chat

    rows = make_chat(1200, seed=3)
    proj = _project(tmp_path, rows, make_chat(24, seed=4))
    name = f"model.name={llama1b}"
    # forge plan --write sizes the run for this card; the model and template are ours
    code, out = _forge(["plan", str(proj.root), "--write", "--json"] + _sets(name, "dataset.chat_template=llama-3"))
    assert code == 0, out[-4000:]
    plan = json.loads(out[out.index("{") :])
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"]["name"] = str(llama1b)
    cfg["dataset"]["chat_template"] = "llama-3"
    cfg["training"].update({"max_steps": 24, "save_steps": 4, "eval_steps": 12, "logging_steps": 1})
    proj.config_file.write_text(json.dumps(cfg))
    proc = _forge(["train", str(proj.root), "--backend", "unsloth"], wait=False)
    # SIGTERM once a checkpoint is complete
    deadline = time.time() + 400
    while time.time() < deadline:
        st = json.loads(proj.status_file.read_text()) if proj.status_file.exists() else {}
        if st.get("step", 0) >= 6:
            break
        time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, out[-6000:]
    st = json.loads(proj.status_file.read_text())
    assert st["phase"] == "interrupted"
    interrupted_at = st["step"]
    t = time.time()
    code, out = _forge(["train", str(proj.root), "--backend", "unsloth", "--resume"])
    assert code == 0, out[-6000:]
    st = json.loads(proj.status_file.read_text())
    assert st["phase"] == "done" and st["step"] == 24 and st["backend"] == "unsloth"
    assert (proj.lora_dir / "adapter_model.safetensors").exists()
    log = proj.log_file.read_text()
    assert "resum" in log
    est = plan["memory"]["torch_peak_gb"]
    peak = st["peak_vram_gb"]  # max_memory_allocated of the resumed run
    _record(
        "unsloth_1b_plan_sigterm_resume",
        interrupted_at=interrupted_at,
        resume_seconds=time.time() - t,
        plan_settings={k: v["value"] for k, v in plan["settings"].items()},
        estimate_torch_peak_gb=est,
        measured_peak_allocated_gb=peak,
        tokens_per_second=st.get("tokens_per_second"),
    )
    assert abs(est / peak - 1) <= 0.25, (est, peak)


def test_oom_backoff_under_memory_cap(tmp_path, llama1b):
    from bench.common import make_chat

    proj = _project(tmp_path, make_chat(600, seed=5), make_chat(16, seed=6))
    t = time.time()
    code, out = _forge(
        ["train", str(proj.root), "--backend", "unsloth"]
        + _sets(
            f"model.name={llama1b}",
            "dataset.chat_template=llama-3",
            "model.load_in_4bit=false",
            "model.max_seq_length=2048",
            "lora.use_gradient_checkpointing=false",
            "training.packing=true",
            "training.per_device_train_batch_size=32",
            "training.gradient_accumulation_steps=1",
            "training.max_steps=6",
            "training.save_steps=2",
            "training.eval_steps=null",
            "training.oom_retries=4",
        ),
        pre="import torch; torch.cuda.set_per_process_memory_fraction(0.2)",  # about 16 GB of the 80
    )
    assert code == 0, out[-6000:]
    st = json.loads(proj.status_file.read_text())
    assert st["phase"] == "done"
    retries = st["extra"].get("oom_retries", 0)
    assert retries >= 1
    log = proj.log_file.read_text()
    assert "CUDA out of memory during training" in log
    _record("oom_backoff_under_cap", retries=retries, last=st["extra"].get("oom_last"), seconds=time.time() - t)
