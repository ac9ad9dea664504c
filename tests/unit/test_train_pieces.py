"""The torch-free pieces of `forge train`: lock, checkpoints, resume fingerprint, cadence, backend choice."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from forge.config import ForgeConfig
from forge.errors import ForgeError
from forge.lock import LockHeld, TrainLock
from forge.train.checkpoints import MARKER, list_checkpoints, mark_complete, newest_complete
from forge.train.resolved import check_resume, differences, fingerprint, write_run_file


def test_lock_refuses_a_second_holder_and_names_the_pid(tmp_path):
    path = tmp_path / ".factory" / "train.lock"
    code = (
        "import pathlib, time\nfrom forge.lock import TrainLock\n"
        f"TrainLock(pathlib.Path({str(path)!r})).acquire()\nprint('held', flush=True)\ntime.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld) as e:
            TrainLock(path).acquire()
        assert f"pid {holder.pid}" in e.value.message and e.value.exit_code == 1
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its kernel lock went with it, and the stale pid is taken over
    lock = TrainLock(path).acquire()
    assert lock.previous_pid == holder.pid
    assert path.read_text().strip() == str(os.getpid())
    lock.release()
    assert path.read_text() == ""


def test_newest_complete_skips_torn_checkpoints(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        (d / "trainer_state.json").write_text("{}")
        if complete:
            mark_complete(d, {"step": step})
    (tmp_path / "checkpoint-x").mkdir()
    assert [c.step for c in list_checkpoints(tmp_path)] == [2, 4, 6]
    warnings = []
    best = newest_complete(tmp_path, warn=warnings.append)
    assert best.step == 4 and (best.path / MARKER).is_file()
    assert len(warnings) == 1 and "checkpoint-6" in warnings[0]


def test_resume_refused_on_changed_data_unless_forced(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("a\n")
    cfg = ForgeConfig()
    fp = fingerprint(cfg, train, None)
    write_run_file(tmp_path, {"fingerprint": fp})
    check_resume(tmp_path, fp, False, print)  # unchanged: fine
    train.write_text("b\n")
    changed = fingerprint(cfg, train, None)
    assert [d.split(":")[0] for d in differences(fp, changed)] == ["train_sha256"]
    with pytest.raises(ForgeError) as e:
        check_resume(tmp_path, changed, False, print)
    assert e.value.exit_code == 2 and "train_sha256" in e.value.message
    notes = []
    check_resume(tmp_path, changed, True, notes.append)
    assert notes and "--force" in notes[0]


def test_cadence_gives_about_ten_evals_and_save_follows_eval(tmp_path):
    from forge.train.backends import Backend

    b = Backend(ForgeConfig(), logging.getLogger("t"), tmp_path)
    total, per_epoch = b.steps(n_train=1000)  # batch 2 x accumulation 4, 3 epochs
    assert per_epoch == 125 and total == 375
    eval_steps, save_steps = b.cadences(total, has_eval=True)
    assert eval_steps == 38 and save_steps == 38
    assert b.cadences(total, has_eval=False) == (None, 38)


def test_unsloth_requested_where_it_cannot_run_is_a_usage_error(tmp_path, monkeypatch):
    from forge.plan import backend_choice
    from forge.train import backends

    monkeypatch.setattr(backend_choice, "unsloth_reason_here", lambda: "Unsloth is not installed")
    with pytest.raises(ForgeError) as e:
        backends.select_backend("unsloth", ForgeConfig(), logging.getLogger("t"), tmp_path)
    assert e.value.exit_code == 2 and "not installed" in e.value.message
    chosen = backends.select_backend("auto", ForgeConfig(), logging.getLogger("t"), tmp_path)
    assert chosen.name == "hf"


def test_plot_from_history(tmp_path):
    from forge.train.plots import plot_loss

    hist = tmp_path / "h.jsonl"
    hist.write_text(
        "\n".join(json.dumps({"step": i, "loss": 3 - i * 0.1, "eval_loss": None}) for i in range(1, 10)) + "\n{torn"
    )
    out = plot_loss(hist, tmp_path / "loss.png")
    assert out and out.stat().st_size > 1000


def test_run_settings_is_the_one_owner_of_the_batch():
    from forge.train.settings import RunSettings

    cfg = ForgeConfig.model_validate({"training": {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 1}})
    s = RunSettings(cfg, world_size=2)
    assert s.effective_batch() == 8
    assert s.shrink_train_batch() == "micro-batch 4 -> 2, accumulation 1 -> 2"
    assert (s.training.per_device_train_batch_size, s.training.gradient_accumulation_steps) == (2, 2)
    assert s.effective_batch() == 8 and s.configured.training.per_device_train_batch_size == 4
    assert s.shrink_eval_batch() == "eval batch 2 -> 1" and s.shrink_eval_batch() is None
    s.shrink_train_batch()
    assert s.shrink_train_batch() is None  # already 1
    assert s.changes[0].startswith("micro-batch 4 -> 2")


def test_backend_cfg_is_a_view_of_the_run_settings(tmp_path):
    from forge.train.backends import Backend
    from forge.train.settings import RunSettings

    s = RunSettings(ForgeConfig())
    b = Backend(s, logging.getLogger("t"), tmp_path)
    s.shrink_train_batch()
    assert b.cfg.training.per_device_train_batch_size == 1  # what the backend builds is what the stats record


def test_val_sample_is_deterministic_and_applied_only_when_the_plan_gives_a_number():
    from forge.train.settings import RunSettings

    val = list(range(100))
    assert RunSettings(ForgeConfig()).sample_val(val) == val  # "auto" not resolved: all of val
    cfg = ForgeConfig.model_validate({"training": {"eval_samples": 10}})
    a, b = RunSettings(cfg).sample_val(val), RunSettings(cfg).sample_val(val)
    assert a == b and len(a) == 10 and a == sorted(a)


def _checkpoint(out, step):
    d = out / f"checkpoint-{step}"
    d.mkdir(parents=True)
    (d / "trainer_state.json").write_text("{}")
    mark_complete(d, {"step": step})
    return d


def test_previous_run_is_set_aside_then_restored_or_discarded(tmp_path):
    from forge.train.previous_run import PreviousRun

    out, hist = tmp_path / "outputs", tmp_path / "metrics" / "training-history.jsonl"
    _checkpoint(out, 4)
    (out / "forge-run.json").write_text('{"run_id": "old"}')
    hist.parent.mkdir()
    hist.write_text('{"step": 4, "loss": 1.0}\n')
    prev = PreviousRun(out, hist)
    assert sorted(prev.set_aside()) == ["checkpoint-4", "forge-run.json", "training-history.jsonl"]
    assert not list_checkpoints(out) and not hist.exists()
    hist.write_text("")  # the new run's history
    (out / "checkpoint-2").mkdir()  # and a torn checkpoint of it
    prev.restore()
    assert [c.step for c in list_checkpoints(out)] == [4] and "old" in (out / "forge-run.json").read_text()
    assert hist.read_text().startswith('{"step": 4') and not (out / ".previous-run").exists()

    prev.set_aside()
    _checkpoint(out, 2)  # the new run's first complete checkpoint
    prev.discard()
    assert [c.step for c in list_checkpoints(out)] == [2] and not (out / ".previous-run").exists()


def test_a_forced_run_killed_before_or_after_its_first_checkpoint_is_settled_by_the_next_run(tmp_path):
    from forge.train.previous_run import PreviousRun

    out, hist = tmp_path / "outputs", tmp_path / "h.jsonl"
    _checkpoint(out, 4)
    PreviousRun(out, hist).set_aside()  # then SIGKILL: no restore, no discard
    PreviousRun(out, hist).recover()
    assert [c.step for c in list_checkpoints(out)] == [4]

    PreviousRun(out, hist).set_aside()
    _checkpoint(out, 2)  # killed after the new run's first checkpoint
    PreviousRun(out, hist).recover()
    assert [c.step for c in list_checkpoints(out)] == [2] and not (out / ".previous-run").exists()
