"""A plain `forge train --resume` / `forge check --resume` finds the checkpoints of a run that was
interrupted after `forge train --config exp1.json` (forge.config.verb_config.started_run, load_resume_config).

QA: the record naming the config (metrics/training-stats.json) is written only when a run finishes,
so after an interrupted `--config exp1.json` run (training.output_dir outputs-exp1) a plain
`--resume` looked in outputs/ and started over. The recipe now records the config source and the
output paths in the status file when the run opens it; `--resume` without --config follows them,
with a note naming the config and the fix, or says the file no longer gives that folder.
Torch-free apart from the tiny built-in's tokenizer (the model load is stubbed).
"""

from __future__ import annotations

import json

import pytest
from finished_run import FILE, RUN_ID
from model_folders import chat_rows, write_rows
from test_security_checkpoints import make_checkpoint

from forge.cli import main
from forge.config import validate_dict
from forge.config.source import paths_record
from forge.config.verb_config import load_resume_config
from forge.errors import ForgeError
from forge.plan.hardware import HardwareInfo
from forge.status import StatusWriter

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
REACHED = "weights would load here"
EXP1 = {**FILE, "training": {**FILE["training"], "output_dir": "outputs-exp1"}}


class Reached(ForgeError):
    kind = "test_reached_load"


@pytest.fixture
def interrupted(tmp_path, monkeypatch):
    """`forge train --config exp1.json` stopped at step 4 of 8: its checkpoints in outputs-exp1, no
    training-stats.json, the status as the recipe opened it (config source and paths in `extra`)."""
    import forge.plan.hardware as hw
    from forge.init.scaffold import init_project
    from forge.train.backends.hf import HFBackend
    from forge.train.resolved import fingerprint, write_run_file

    monkeypatch.setattr(hw, "probe", lambda: CPU)

    def load(self):
        raise Reached(REACHED, "none: a test stub")

    monkeypatch.setattr(HFBackend, "load", load)
    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(120))
    write_rows(proj.val_file, chat_rows(12, "v"))
    (proj.root / "exp1.json").write_text(json.dumps(EXP1))
    cfg = validate_dict(EXP1)
    out = proj.root / "outputs-exp1"
    for step in (2, 4):
        make_checkpoint(out, step)
    fp = fingerprint(cfg, proj.train_file, proj.val_file)
    started = "2026-12-01T10:00:00Z"
    write_run_file(out, {"run_id": RUN_ID, "started_at": started, "fingerprint": fp, "config": cfg.to_json_dict()})
    st = StatusWriter(proj.status_file, run_id=RUN_ID, started_at=started)
    st.update(config_source={"file": "exp1.json", "overrides": []}, paths=paths_record(cfg))
    st.phase("interrupted", step=4, total_steps=4)
    return proj


def test_the_resume_config_follows_the_run_that_started_with_another_file(interrupted):
    chosen = load_resume_config(interrupted)
    assert chosen.cfg.training.output_dir == "outputs-exp1"  # before: outputs, training-config.json's
    assert chosen.source.file == (interrupted.root / "exp1.json").resolve()
    (note,) = chosen.notes
    assert "`--config exp1.json`" in note and "outputs-exp1" in note and "fix: pass --config" in note


def test_a_config_that_no_longer_gives_the_folder_is_not_guessed(interrupted):
    (interrupted.root / "exp1.json").write_text(json.dumps({**EXP1, "training": {"output_dir": "elsewhere"}}))
    chosen = load_resume_config(interrupted)
    assert chosen.cfg.training.output_dir == "outputs"  # training-config.json's, said so
    (note,) = chosen.notes
    assert "no longer says so" in note and "outputs-exp1" in note
    assert "fix: to continue that run, pass --config FILE whose training.output_dir is outputs-exp1" in note


def test_check_and_train_resume_the_interrupted_run_and_say_which_config(interrupted, capsys):
    sets = ["--set", "training.max_steps=8"]
    rc = main(["check", str(interrupted.root), "--json", "--resume", *sets])
    out = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for sec in out["sections"].values() for i in sec}
    follow = items["config of the run to resume"]
    assert follow["status"] == "ok" and "`--config exp1.json`" in follow["detail"], follow
    assert "pass --config" in follow["fix"]
    assert "checkpoint-4" in json.dumps(out), out  # the start point: continue from exp1's checkpoint
    assert rc in (0, 1)

    rc = main(["train", str(interrupted.root), "--resume", *sets])
    err = " ".join(capsys.readouterr().err.split())
    assert REACHED in err, err  # it resumed: every decision before the weights passed
    assert "note: --resume: reading the config of the last run (r-done), `--config exp1.json`" in err
    st = json.loads(interrupted.status_file.read_text())
    assert st["resumed_from"] == "checkpoint-4", st  # before: a new run in outputs/
    # on record from the start, for the next --resume (and no longer only the config it followed)
    assert st["extra"]["config_source"]["file"] == "exp1.json"
    assert st["extra"]["paths"]["output_dir"] == "outputs-exp1"
    assert not list((interrupted.root / "outputs").glob("checkpoint-*"))
    assert not (interrupted.root / "outputs" / "forge-run.json").exists()


def test_a_refused_resume_keeps_the_run_to_follow(interrupted, capsys):
    # an unsafe --set is refused before the run opens: the status then records the refusal, and the
    # next plain --resume must still find outputs-exp1 (through extra.previous_run)
    rc = main(["train", str(interrupted.root), "--resume", "--set", "training.learning_rate=1e-3"])
    assert rc == 2
    st = json.loads(interrupted.status_file.read_text())
    assert st["phase"] == "failed" and st["extra"]["previous_run"]["paths"]["output_dir"] == "outputs-exp1"
    capsys.readouterr()
    assert load_resume_config(interrupted).cfg.training.output_dir == "outputs-exp1"


def test_a_broken_training_config_does_not_stop_resuming_a_run_that_read_another_file(interrupted, capsys):
    interrupted.config_file.write_text('{"model": {"name": ')  # broken JSON; exp1.json is fine
    chosen = load_resume_config(interrupted)
    assert chosen.cfg.training.output_dir == "outputs-exp1"
    (note,) = chosen.notes
    assert "training-config.json does not load" in note and "`--config exp1.json`" in note
    assert "fix: repair training-config.json" in note
    # a run that read training-config.json itself: the broken file is the error, as before
    st = json.loads(interrupted.status_file.read_text())
    st["extra"]["config_source"] = {"file": "training-config.json", "overrides": []}
    interrupted.status_file.write_text(json.dumps(st))
    with pytest.raises(ForgeError, match="training-config.json"):
        load_resume_config(interrupted)


def test_an_output_reading_verb_follows_the_last_run_past_a_broken_training_config(interrupted):
    from forge.config.verb_config import load_verb_config

    cfg = validate_dict(EXP1)
    interrupted.training_stats_file.parent.mkdir(parents=True, exist_ok=True)
    interrupted.training_stats_file.write_text(
        json.dumps(
            {
                "run_id": RUN_ID,
                "total_steps": 4,
                "config_source": {"file": "exp1.json", "overrides": ["save.lora_path=models/exp1-lora"]},
                "paths": {**paths_record(cfg), "lora_path": "models/exp1-lora"},
            }
        )
    )
    interrupted.config_file.write_text("{ not json")
    chosen = load_verb_config(interrupted)
    assert chosen.cfg.save.lora_path == "models/exp1-lora" and chosen.followed is not None
    assert "training-config.json does not load" in chosen.notes[0]
    with pytest.raises(ForgeError):  # the verbs about the next run still refuse the broken file
        load_verb_config(interrupted, follow_last_run=False)
