"""An unexpected failure gets a documented error_kind and a fix that is true (torch-free).

QA, 2026-12: an error forge did not expect was recorded as error_kind "error", a word the status
contract does not have (it has `internal`), with the fix "rerun with --resume to continue from the
last checkpoint", given when there was no checkpoint, and for a setting a resume would reuse.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import time
from pathlib import Path

import pytest

from forge.cli import main
from forge.errors import ForgeError
from forge.plan.hardware import HardwareInfo
from forge.status import ERROR_KINDS, StatusWriter, read_status
from forge.train.checkpoints import MARKER
from forge.train.failures import classify, named_settings, run_checkpoint

DOCS = Path(__file__).resolve().parents[2] / "docs"
CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
TINY = ["model.name=builtin:tiny-llama", "model.load_in_4bit=false", "training.max_steps=1"]
SCHEDULER_ERROR = "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"


def _documented_kinds() -> list[str]:
    text = (DOCS / "status-contract.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `error_kind` |"))
    return re.findall(r"`([a-z_]+)`", row.split("one of:", 1)[1].split("The writer", 1)[0])


def test_the_documented_kinds_are_the_writers():
    assert _documented_kinds() == list(ERROR_KINDS)


def test_the_writer_records_only_documented_kinds(tmp_path):
    path = tmp_path / "training-status.json"
    w = StatusWriter(path)
    w.phase("failed", error="boom", error_kind="error", solution="x")
    assert read_status(path).error_kind == "internal"
    w.phase("failed", error="oom", error_kind="oom")
    assert read_status(path).error_kind == "oom"
    assert ForgeError("x").kind in ERROR_KINDS  # a ForgeError of no class of its own


def test_an_unexpected_error_is_internal_and_names_the_setting_it_mentions():
    kind, fix = classify(ValueError(SCHEDULER_ERROR))
    assert kind == "internal" and "--resume" not in fix
    assert "the error names training.lr_scheduler_kwargs: check that setting in training-config.json" in fix
    assert "logs/training.log" in fix


def test_an_error_that_names_no_setting_asks_for_a_bug_report():
    kind, fix = classify(RuntimeError("something inside a library broke"), "outputs/checkpoint-4")
    assert kind == "internal" and "report it as a bug with logs/training.log" in fix
    assert "outputs/checkpoint-4 is kept" in fix and "--resume" not in fix  # a resume would meet it again


def test_named_settings_need_a_key_of_the_config():
    assert named_settings("Remove `'lm_head'` from your `target_modules`.") == ["lora.target_modules"]
    assert named_settings("lr_scheduler_type reduce_lr_on_plateau requires an eval strategy") == [
        "training.lr_scheduler_type"
    ]
    assert named_settings("the name of the model is wrong") == []  # plain words are not keys


def _checkpoint(output_dir: Path, step: int) -> Path:
    path = output_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (path / MARKER).write_text("{}")
    return path


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def test_resume_is_suggested_only_with_a_checkpoint(tmp_path):
    out = tmp_path / "outputs"
    assert run_checkpoint(out, tmp_path) is None
    kind, fix = classify(_disk_full(), run_checkpoint(out, tmp_path))
    assert kind == "disk_full" and "--resume" not in fix and "rerun `forge train`" in fix
    (out / "checkpoint-9").mkdir(parents=True)  # torn: no marker
    assert run_checkpoint(out, tmp_path) is None
    _checkpoint(out, 4)
    kind, fix = classify(_disk_full(), run_checkpoint(out, tmp_path))
    assert kind == "disk_full" and "`forge train --resume`: it continues from outputs/checkpoint-4" in fix


def test_an_oom_resumes_only_with_the_same_effective_batch(tmp_path):
    kind, fix = classify(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert kind == "oom" and "--resume" not in fix and "rerun `forge train`" in fix
    kind, fix = classify(RuntimeError("CUDA out of memory"), "outputs/checkpoint-8")
    assert "continues this run from outputs/checkpoint-8" in fix and "--force" in fix


def test_a_failure_before_any_step_is_recorded_as_internal_without_resume(project, monkeypatch, capsys):
    """Through `forge train`: an unexpected error once the model is loading (here, a stand-in for the
    scheduler's ValueError the Trainer raised)."""
    import forge.plan.hardware as hw
    from forge.train.backends.hf import HFBackend

    monkeypatch.setattr(hw, "probe", lambda: CPU)

    def load(self):
        raise ValueError(SCHEDULER_ERROR)

    monkeypatch.setattr(HFBackend, "load", load)
    assert main(["train", str(project.root), *[x for s in TINY for x in ("--set", s)]]) == 1
    said = capsys.readouterr()
    st = json.loads(project.status_file.read_text())
    assert st["phase"] == "failed" and st["error_kind"] == "internal", st
    assert "--resume" not in st["solution"] and "training.lr_scheduler_kwargs" in st["solution"]
    assert "--resume" not in said.out + said.err


def test_a_rank_that_died_resumes_only_from_a_checkpoint(tmp_path):
    from forge.init.scaffold import init_project
    from forge.train.distributed import ranks
    from forge.train.distributed.outcome import outcome

    proj, _ = init_project(tmp_path / "p")
    ranks.clear(proj)
    (ranks.dist_dir(proj) / "rank-0.pid").write_text(f"{os.getpid()}\n")
    w = StatusWriter(proj.status_file, run_id="r1", pid=os.getpid(), started_at="2026-12-01T00:00:00Z")
    w.phase("training")
    assert outcome(proj, 1, [], time.time()) == 1
    st = read_status(proj.status_file)
    folder = shlex.quote(str(proj.root.resolve()))  # the status file names it absolute (forge.hints)
    assert st.error_kind == "internal" and "--resume" not in st.solution
    assert f"rerun `forge train {folder}`" in st.solution
    w.phase("training", checkpoint_at="2026-12-01T00:10:00Z")
    assert outcome(proj, 1, [], time.time()) == 1
    assert f"`forge train {folder} --resume`" in read_status(proj.status_file).solution


@pytest.mark.parametrize("kind", ["error", None])
def test_a_failing_rank_without_a_documented_kind_is_internal(tmp_path, kind):
    from forge.init.scaffold import init_project
    from forge.train.distributed import ranks
    from forge.train.distributed.outcome import outcome

    proj, _ = init_project(tmp_path / "p")
    ranks.clear(proj)
    ranks.write_rank_error(proj, 1, "RuntimeError: boom", kind, "see the log")
    assert outcome(proj, 1, [], time.time()) == 1
    assert read_status(proj.status_file).error_kind == "internal"
