"""The OOM backoff end to end on CPU: an injected torch.OutOfMemoryError at step k is retried with
half the micro-batch and twice the accumulation, shows in the status and the log, and the run
completes; with no retries left it fails with the original table's fix. The OOM is injected from
outside forge (tests/slow/inject/forge_faults.py through forge.train.extensions)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from forge.cli import main

sys.path.insert(0, str(Path(__file__).parent / "inject"))
import forge_faults  # noqa: E402

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


@pytest.fixture
def inject(monkeypatch):
    from forge.train import extensions

    monkeypatch.setattr(extensions, "CALLBACK_FACTORIES", [])
    return forge_faults.install


def _args(project, *extra):
    out = ["train", str(project.root), "--backend", "hf"]
    for s in [*SETTINGS, *extra]:
        out += ["--set", s]
    return out


def test_oom_is_retried_with_half_batch(project, inject):
    inject(oom_at=4)
    code = main(_args(project))
    assert code == 0
    status = json.loads(project.status_file.read_text())
    assert status["phase"] == "done"
    assert status["extra"]["oom_retries"] == 1
    assert "micro-batch 4 -> 2, accumulation 1 -> 2" in status["extra"]["oom_last"]
    log = project.log_file.read_text()
    assert "retry 1/3" in log and "from checkpoint-2" in log
    assert (project.lora_dir / "adapter_model.safetensors").exists()


def test_after_an_oom_retry_stats_and_run_file_record_the_batch_that_ran(project, inject):
    # issue 14's bug: both recorded the micro-batch that had failed (4 x 1), not the one that ran
    inject(oom_at=4)
    assert main(_args(project)) == 0
    stats = json.loads(project.training_stats_file.read_text())
    assert stats["per_device_train_batch_size"] == 2 and stats["gradient_accumulation_steps"] == 2
    assert stats["effective_batch"] == 4 and stats["oom_retries"] == 1
    run = json.loads((project.root / "outputs" / "forge-run.json").read_text())
    training = run["config"]["training"]
    assert training["per_device_train_batch_size"] == 2 and training["gradient_accumulation_steps"] == 2
    assert run["fingerprint"]["effective_batch"] == 4  # unchanged: a later --resume still matches
    assert run["changes"] == ["micro-batch 4 -> 2, accumulation 1 -> 2"]


def test_oom_retries_exhausted_fail_with_fix(project, inject):
    inject(oom_at=2, oom_times=5)
    code = main(_args(project, "training.oom_retries=1"))
    assert code == 1
    status = json.loads(project.status_file.read_text())
    assert status["phase"] == "failed"
    assert status["error_kind"] == "oom"
    assert "per_device_train_batch_size" in status["solution"]
    assert not (project.lora_dir / "adapter_model.safetensors").exists()
