"""The OOM backoff end to end on CPU: an injected torch.OutOfMemoryError at step k is retried with
half the micro-batch and twice the accumulation, shows in the status and the log, and the run
completes; with no retries left it fails with the original table's fix."""

from __future__ import annotations

import json

import pytest

from forge.cli import main

pytestmark = pytest.mark.slow

SETTINGS = [
    "model.name=builtin:tiny-llama",
    "model.max_seq_length=128",
    "model.load_in_4bit=false",
    "dataset.chat_template=llama-3",
    "training.backend=hf",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "training.max_steps=6",
    "training.save_steps=2",
    "training.eval_steps=null",
    "training.optim=adamw_torch",
]


def _args(project, *extra):
    out = ["train", str(project.root), "--backend", "hf"]
    for s in [*SETTINGS, *extra]:
        out += ["--set", s]
    return out


def test_oom_is_retried_with_half_batch(project, monkeypatch):
    monkeypatch.setenv("FORGE_TEST_OOM_AT_STEP", "4")
    code = main(_args(project))
    assert code == 0
    status = json.loads(project.status_file.read_text())
    assert status["phase"] == "done"
    assert status["extra"]["oom_retries"] == 1
    assert "micro-batch 4 -> 2, accumulation 1 -> 2" in status["extra"]["oom_last"]
    log = project.log_file.read_text()
    assert "retry 1/3" in log and "from checkpoint-2" in log
    assert (project.lora_dir / "adapter_model.safetensors").exists()


def test_oom_retries_exhausted_fail_with_fix(project, monkeypatch):
    monkeypatch.setenv("FORGE_TEST_OOM_AT_STEP", "2")
    monkeypatch.setenv("FORGE_TEST_OOM_TIMES", "5")
    code = main(_args(project, "training.oom_retries=1"))
    assert code == 1
    status = json.loads(project.status_file.read_text())
    assert status["phase"] == "failed"
    assert status["error_kind"] == "oom"
    assert "per_device_train_batch_size" in status["solution"]
    assert not (project.lora_dir / "adapter_model.safetensors").exists()
