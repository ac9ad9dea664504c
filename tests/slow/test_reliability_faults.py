"""Faults a run must survive without losing anything (CPU, builtin:tiny-llama, in-process CLI):

- disk full (ENOSPC injected) while saving a checkpoint, the adapter, the merged model (forge
  export's pipeline, which `forge train` runs for save.merged_path): a clear error_kind
  "disk_full", the previous checkpoint, adapter and merged model intact and loadable, the status valid;
- corrupted checkpoints (truncated safetensors, missing optimizer state, empty trainer state,
  no forge marker) are skipped with a warning naming the file, and when none is left `--resume`
  fails rather than starting over;
- resuming with a changed dataset, model or effective batch is refused with the difference shown,
  unless --force.

The CUDA OOM backoff (torch.OutOfMemoryError injected on the CPU) has its end-to-end test in
tests/slow/test_oom_backoff.py.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import export_report

from forge.cli import main

pytestmark = pytest.mark.slow

SETTINGS = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=32",
    "dataset.chat_template=llama-3",
    "dataset.val_path=null",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=2",
    "training.gradient_accumulation_steps=1",
    "training.save_steps=2",
    "training.save_total_limit=3",
    "training.optim=adamw_torch",
    "training.backend=hf",
]


def _args(root: Path, *extra: str, flags: tuple[str, ...] = ()) -> list[str]:
    out = ["train", str(root), *flags]
    for s in (*SETTINGS, *extra):
        out += ["--set", s]
    return out


def _status(root: Path) -> dict:
    return json.loads((root / ".factory" / "training-status.json").read_text())  # must always parse


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _loadable_adapter(lora: Path) -> None:
    from safetensors.torch import load_file

    assert json.loads((lora / "adapter_config.json").read_text())["r"]
    assert load_file(str(lora / "adapter_model.safetensors"))


def _loadable_checkpoint(ckpt: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from forge.train.integrity import problem

    assert problem(ckpt) is None, problem(ckpt)
    assert load_file(str(ckpt / "adapter_model.safetensors"))
    assert torch.load(ckpt / "optimizer.pt", weights_only=True)["state"]
    assert json.loads((ckpt / "trainer_state.json").read_text())["global_step"] == int(ckpt.name.split("-")[1])


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def trained(project):
    """A finished 4-step run: checkpoints 2 and 4, an adapter and a merged model."""
    root = project.root
    code = main(_args(root, "training.max_steps=4", "save.merged_path=models/checkpoints/merged", flags=("--json",)))
    assert code == 0
    return root


def test_disk_full_on_checkpoint_adapter_and_merged(trained, monkeypatch, capsys):
    import transformers

    from forge.train.backends.hf import HFBackend
    from forge.train.integrity import newest_valid

    root = trained
    lora, merged = root / "models/checkpoints/lora", root / "models/checkpoints/merged"
    adapter_sha, merged_sha = _sha(lora / "adapter_model.safetensors"), _sha(merged / "model.safetensors")
    more = ("training.max_steps=8", "save.merged_path=models/checkpoints/merged")
    survived = []

    # 1. the checkpoint at step 6: the model is written, the optimizer state hits a full disk half-way
    def full_optimizer(self, output_dir):
        Path(output_dir, "optimizer.pt").write_bytes(b"\0" * 100)
        _enospc()

    with monkeypatch.context() as m:
        m.setattr(transformers.Trainer, "_save_optimizer_and_scheduler", full_optimizer)
        code = main(_args(root, *more, flags=("--resume",)))
    st = _status(root)
    assert code == 1 and st["phase"] == "failed" and st["error_kind"] == "disk_full", st
    assert "free disk space" in st["solution"] and "No space left" in st["error"]
    assert newest_valid(root / "outputs").path.name == "checkpoint-4"
    _loadable_checkpoint(root / "outputs" / "checkpoint-4")
    assert _sha(lora / "adapter_model.safetensors") == adapter_sha
    _loadable_adapter(lora)
    survived.append("checkpoint")

    # 2. the adapter: its temporary folder hits a full disk; the previous adapter stays in place
    def full_adapter(self, model, tokenizer, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        Path(path, "adapter_model.safetensors").write_bytes(b"\0" * 10)
        _enospc()

    with monkeypatch.context() as m:
        m.setattr(HFBackend, "save_adapter", full_adapter)
        code = main(_args(root, *more, flags=("--resume",)))
    st = _status(root)
    assert code == 1 and st["error_kind"] == "disk_full", st
    log = (root / "logs" / "training.log").read_text()
    assert "deleted torn checkpoint checkpoint-6" in log  # the torn one from step 1, cleaned by the resume
    assert _sha(lora / "adapter_model.safetensors") == adapter_sha
    _loadable_adapter(lora)
    _loadable_checkpoint(root / "outputs" / "checkpoint-8")
    assert not list(lora.parent.glob(".lora.*")), "temporary adapter folder left behind"
    survived.append("adapter")

    # 3. the merged model (forge export's pipeline, as `forge export --merged`): its save hits a full
    # disk half-way; the new adapter is complete and in place, the previous merged model stays
    from forge.export import merge as export_merge

    def full_merged(model, tokenizer, out_dir, **_k):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        Path(out_dir, "config.json").write_text("{}")
        _enospc()

    report_before = export_report(root)
    with monkeypatch.context() as m:
        m.setattr(export_merge, "save", full_merged)
        code = main(_args(root, *more, flags=("--resume",)))
    st = _status(root)
    assert code == 1 and st["error_kind"] == "disk_full", st
    assert _sha(merged / "model.safetensors") == merged_sha
    assert not list(merged.parent.glob(".merged.*")), "temporary merged folder left behind"
    assert not list(merged.parent.glob("merged.partial*")), "the export's temporary merged folder left behind"
    # the fault hit the export, which kept nothing: the last good export's record stays as it was
    assert "No space left" in st["error"] and export_report(root) == report_before
    _loadable_adapter(lora)
    # the training itself finished: its stats are on record before the export ran
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["run_id"] == st["run_id"] and stats["total_steps"] == 8, stats
    survived.append("merged")

    # and with the disk freed, the same command finishes
    assert main(_args(root, *more, flags=("--resume",))) == 0
    assert _status(root)["phase"] == "done"
    capsys.readouterr()
    with capsys.disabled():
        print(f"\ndisk full: {len(survived)} ENOSPC faults survived ({', '.join(survived)}), then the run finished")


def test_corrupted_checkpoints_are_skipped_by_name_never_restarted(project, capsys):
    root = project.root
    assert main(_args(root, "training.max_steps=6", flags=("--json",))) == 0
    out = root / "outputs"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    history_before = (root / "metrics" / "training-history.jsonl").read_text()

    # truncated safetensors in the newest, missing optimizer state in the next
    weights = out / "checkpoint-6" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (out / "checkpoint-4" / "optimizer.pt").unlink()
    code = main(_args(root, "training.max_steps=6", flags=("--resume", "--json")))
    assert code == 0
    log = (root / "logs" / "training.log").read_text()
    assert "skipping checkpoint" in log and "checkpoint-6: adapter_model.safetensors" in log
    assert "checkpoint-4: optimizer.pt is missing" in log
    assert f"resuming from {out / 'checkpoint-2'} (step 2)" in log
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["resumed_from"] == "checkpoint-2" and stats["total_steps"] == 6
    # the damaged ones were set aside whole, not deleted (issue 28), and the log says where
    aside = out / "set-aside"
    assert sorted(p.name for p in aside.iterdir()) == ["checkpoint-4", "checkpoint-6"]
    assert f"set aside checkpoint checkpoint-6 (newer than the resume point) in {aside / 'checkpoint-6'}" in log
    assert (
        not (aside / "checkpoint-4" / "optimizer.pt").exists() and (aside / "checkpoint-4" / "scheduler.pt").is_file()
    )

    # empty trainer state everywhere and a foreign folder: nothing valid is left -> refuse, never restart
    for c in out.glob("checkpoint-*"):
        (c / "trainer_state.json").write_text("")
    foreign = out / "checkpoint-9"
    shutil.copytree(out / "checkpoint-6", foreign)
    (foreign / "forge-complete.json").unlink()
    history_mid = (root / "metrics" / "training-history.jsonl").read_text()
    code = main(_args(root, "training.max_steps=6", flags=("--resume",)))
    assert code == 1
    st = _status(root)
    assert st["error_kind"] == "no_valid_checkpoint" and "--force" in st["solution"]
    log = (root / "logs" / "training.log").read_text()
    assert "checkpoint-9: no forge-complete.json" in log and "trainer_state.json is empty or not JSON" in log
    assert (root / "metrics" / "training-history.jsonl").read_text() == history_mid, "history was reset"
    assert history_before
    with capsys.disabled():
        print(
            "\ncorrupted checkpoints: 4 kinds detected by name (truncated weights, no optimizer, empty state, no marker)"
        )


def test_resume_with_changed_data_model_or_batch_is_refused(project):
    root = project.root
    assert main(_args(root, "training.max_steps=2", flags=("--json",))) == 0
    changes = {
        "model": ["model.name=builtin:tiny-gemma3", "dataset.chat_template=gemma-3"],
        "effective_batch": ["training.gradient_accumulation_steps=2"],
    }
    for key, sets in changes.items():
        code = main(_args(root, "training.max_steps=4", *sets, flags=("--resume",)))
        assert code == 2, key
        st = _status(root)
        assert st["error_kind"] == "resume_mismatch" and key in st["error"], st["error"]
    # the same effective batch split differently is the same run (the OOM backoff does exactly this)
    # and a changed dataset is refused, then accepted with --force
    train = root / "data" / "splits" / "train.jsonl"
    train.write_text(train.read_text() + train.read_text().splitlines()[0] + "\n")
    assert main(_args(root, "training.max_steps=4", flags=("--resume",))) == 2
    st = _status(root)
    assert "train_sha256" in st["error"] and "->" in st["error"]
    assert main(_args(root, "training.max_steps=4", flags=("--resume", "--force", "--json"))) == 0
    assert "resuming although the run changed (--force): train_sha256" in (root / "logs/training.log").read_text()
