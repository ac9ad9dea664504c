"""`--resume` continues the run as it was resolved (forge.train.resolved.resume_config), torch-free.

QA found `forge train --resume` rebuilt the config from training-config.json + this call's --set:
an interrupted `--set training.max_steps=300` run resumed with the file's 40 steps and was
declared done at step 98; cadences set by --set were replaced by the checkpoint's, silently.
"""

from __future__ import annotations

import json
import logging

import pytest

from forge.config import ConfigError, ForgeConfig, apply_overrides, validate_dict
from forge.errors import ForgeError
from forge.train.checkpoints import Checkpoint
from forge.train.fit import checkpoint_at_end
from forge.train.resolved import ResumedConfig, fingerprint, resume_config, write_run_file
from forge.train.settings import RunSettings

FILE = {"model": {"name": "builtin:tiny-llama"}, "training": {"max_steps": 40, "logging_steps": 5, "save_steps": 20}}
RUN_SETS = ["training.max_steps=300", "training.save_steps=5", "training.logging_steps=1"]


def config(*sets: str) -> ForgeConfig:
    return validate_dict(apply_overrides(FILE, list(sets)))


@pytest.fixture
def outputs(tmp_path):
    """An output folder whose run file records a run started with RUN_SETS (as the recipe writes it)."""
    out = tmp_path / "outputs"
    out.mkdir()
    ran = config(*RUN_SETS)
    ran = ran.model_copy(update={"dataset": ran.dataset.model_copy(update={"chat_template": "llama-3"})})  # resolved
    fp = fingerprint(config(*RUN_SETS), tmp_path / "none.jsonl", None)  # as written: chat_template "auto"
    write_run_file(out, {"run_id": "r1", "fingerprint": fp, "config": ran.to_json_dict()})
    return out


def test_a_plain_resume_takes_the_runs_recorded_settings_not_the_files(outputs):
    cfg = resume_config(config(), [], outputs, 98)
    t = cfg.training
    assert (t.max_steps, t.save_steps, t.logging_steps) == (300, 5, 1)  # before: 40, 20, 5 from the file
    assert cfg.dataset.chat_template == "auto"  # as the fingerprint has it: resolves to the same template
    notes = " ".join(m for _, m in cfg.resume_notes)
    assert "forge-run.json" in notes and "training.max_steps 300 (file: 40)" in notes


def test_a_larger_max_steps_trains_further(outputs):
    cfg = resume_config(config("training.max_steps=400"), ["training.max_steps=400"], outputs, 98)
    assert cfg.training.max_steps == 400 and cfg.training.save_steps == 5
    assert any("training.max_steps: 300 -> 400" in m for _, m in cfg.resume_notes)


@pytest.mark.parametrize("end", [98, 50])
def test_a_max_steps_at_or_behind_the_checkpoint_is_refused_never_done(outputs, end):
    with pytest.raises(ForgeError) as e:
        resume_config(config(f"training.max_steps={end}"), [f"training.max_steps={end}"], outputs, 98)
    assert e.value.exit_code == 2 and "training.max_steps" in e.value.message and "step 98" in e.value.message
    assert "above 98" in e.value.fix and "--force" in e.value.fix
    # the run's own end is fine: that is what it said (a checkpoint at 300 is "already finished")
    assert resume_config(config("training.max_steps=300"), ["training.max_steps=300"], outputs, 300)


def test_unsafe_changes_are_refused_together_naming_each_key_and_the_fix(outputs):
    sets = ["training.learning_rate=1e-4", "training.logging_steps=7", "lora.r=4"]
    with pytest.raises(ForgeError) as e:
        resume_config(config(*sets), sets, outputs, 98)
    err = e.value
    assert err.exit_code == 2 and err.kind == "resume_mismatch"
    for key in ("training.learning_rate", "training.logging_steps", "lora.r"):
        assert key in err.message
    assert "--force" in err.fix and "training.max_steps" in err.fix
    # --resume --force refuses them as well: the checkpoint restores the optimizer, the schedule
    # and the cadences, so the new values would be recorded and not used (QA, 2026-12-01)
    with pytest.raises(ForgeError) as forced:
        resume_config(config(*sets), sets, outputs, 98, force=True)
    assert "training.learning_rate" in forced.value.message and "checkpoint restores" in forced.value.fix


def test_same_values_and_safe_keys_pass(outputs):
    sets = ["training.logging_steps=1", "save.merged_path=models/merged", "training.save_total_limit=1"]
    cfg = resume_config(config(*sets), sets, outputs, 98)
    assert cfg.save.merged_path == "models/merged" and cfg.training.save_total_limit == 1


def test_fingerprinted_keys_pass_through_to_the_fingerprint_check(outputs):
    # same effective batch split differently: the fingerprint (effective_batch) says it is the same run
    sets = ["training.per_device_train_batch_size=1", "training.gradient_accumulation_steps=8"]
    cfg = resume_config(config(*sets), sets, outputs, 98)
    assert cfg.effective_batch() == 8


def test_an_unknown_key_is_a_config_error_naming_it(outputs):
    with pytest.raises(ConfigError) as e:
        resume_config(config(), ["training.max_stepz=4"], outputs, 98)
    assert "max_stepz" in e.value.message and e.value.exit_code == 2


def test_the_batch_recorded_per_process_is_multiplied_back(tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    ran = config("training.per_device_train_batch_size=2", "training.gradient_accumulation_steps=2")  # one rank of 2
    write_run_file(out, {"fingerprint": {"effective_batch": 8}, "config": ran.to_json_dict()})
    cfg = resume_config(config(), [], out, 4)
    assert (cfg.training.per_device_train_batch_size, cfg.training.gradient_accumulation_steps) == (2, 4)


def test_without_a_recorded_config_the_file_is_used_and_said(tmp_path):
    cfg = resume_config(config(*RUN_SETS), RUN_SETS, tmp_path, 5)
    assert isinstance(cfg, ResumedConfig) and cfg.training.max_steps == 300
    assert cfg.resume_notes[0][0] == "warning" and "no recorded config" in cfg.resume_notes[0][1]


def test_the_notes_reach_the_run_log_once_it_is_open(outputs, caplog):
    from forge.train.distributed import World

    settings = RunSettings(resume_config(config(), [], outputs, 98))
    with caplog.at_level(logging.INFO, logger="test"):
        settings.divide_for_world(World.current(), logging.getLogger("test"))
    assert "resuming: the settings recorded in" in caplog.text
    assert settings.cfg.training.max_steps == 300 and not hasattr(settings.cfg.to_json_dict(), "resume_notes")


def _ckpt(tmp_path, step: int, planned: int) -> Checkpoint:
    path = tmp_path / f"checkpoint-{step}"
    path.mkdir()
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": planned}))
    return Checkpoint(path, step)


def test_a_checkpoint_is_finished_only_at_its_own_runs_end(tmp_path):
    assert checkpoint_at_end(_ckpt(tmp_path, 4, 4), 4)  # killed after the last step: go to saving
    assert not checkpoint_at_end(_ckpt(tmp_path, 5, 10), 10)  # mid-run: train on
    with pytest.raises(ForgeError) as e:  # the QA case: step 98 of 300, the file said 40
        checkpoint_at_end(_ckpt(tmp_path, 98, 300), 40)
    assert e.value.exit_code == 2 and "training.max_steps=300" in e.value.fix
