"""Recovery across ranks on the CPU (gloo, torchrun), builtin:tiny-llama.

- `--nproc 2 --resume` continues a checkpoint on two processes (the Trainer mapped the optimizer
  state onto `cpu:N`, which torch.load cannot restore: this failed before);
- an OOM on the ranks (injected from outside, tests/slow/inject) under `--strategy fsdp` is
  retried with half the micro-batch and twice the accumulation, over the model already sharded,
  and the global batch stays as planned (the stats record what ran: 1 x 2 x 2 processes = 4).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_distributed import ENV, assert_none_left, cmd, losses, make_project, run  # noqa: E402

pytestmark = pytest.mark.slow

INJECT = str(Path(__file__).parent / "inject")


def test_resume_on_two_processes(tmp_path):
    root = make_project(tmp_path / "p")
    first = run(cmd(root, "--nproc", "2", "--json", sets=("training.max_steps=2",)))
    assert first.returncode == 0, first.stderr[-3000:]
    res = run(cmd(root, "--nproc", "2", "--resume", "--json", sets=("training.max_steps=4",)))
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout)
    assert stats["resumed_from"] == "checkpoint-2" and stats["total_steps"] == 4
    assert sorted(losses(root)) == [1, 2, 3, 4]
    assert_none_left(root)


def test_oom_under_fsdp_keeps_the_global_batch(tmp_path):
    import subprocess

    root = make_project(tmp_path / "p")
    env = {**ENV, "PYTHONPATH": os.pathsep.join(p for p in (INJECT, ENV.get("PYTHONPATH")) if p)}
    env["FORGE_TEST_OOM_AT_STEP"] = "4"  # on every rank, as a real OOM of an even split would
    res = subprocess.run(
        cmd(root, "--nproc", "2", "--strategy", "fsdp", "--json", sets=("training.max_steps=6",)),
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout)
    log = (root / "logs" / "training.log").read_text()
    assert "retry 1/3 with micro-batch 2 -> 1, accumulation 1 -> 2, from checkpoint-2" in log
    assert stats["total_steps"] == 6 and stats["effective_batch"] == 4
    training = json.loads((root / "outputs" / "forge-run.json").read_text())["config"]["training"]
    assert (training["per_device_train_batch_size"], training["gradient_accumulation_steps"]) == (1, 2)
    assert (root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors").is_file()
    assert_none_left(root)
