"""`forge check --resume / --force` says ready exactly when `forge train` with the same flags starts.

QA: `forge check` had neither flag, so an agent saw "ready", then `forge train --resume --set X=Y`
was refused (a resume trains with the run's recorded config; unsafe --set values and a max_steps
behind the checkpoint are refused), or `forge train` without --resume was refused over an earlier
run's checkpoints. Check now asks train's own decisions (forge.train.start.read_run_config,
forge.train.resume.start_point) and fails each refusal with train's message and fix.

Each case here runs check, then train, on the same project and flags: a refusal must fail a check
item with the words train puts into the status; a start check calls ready must get as far as loading
the weights (where a stub stops it: no model is loaded in these tests). Neither may lose what is on
disk. Torch-free apart from the tiny built-in's tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finished_run import FILE, make_finished, snapshot
from model_folders import chat_rows, write_rows

from forge.cli import main
from forge.config import apply_overrides
from forge.errors import ForgeError
from forge.plan.hardware import HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
REACHED = "weights would load here"  # the stub in place of the model load: every pre-start decision passed


class Reached(ForgeError):
    kind = "test_reached_load"


@pytest.fixture
def finished(tmp_path, monkeypatch):
    """A project whose run r-done finished at step 4 (finished_run.make_finished); the hardware probe
    and the model load are stubbed."""
    import forge.plan.hardware as hw
    from forge.train.backends.hf import HFBackend

    monkeypatch.setattr(hw, "probe", lambda: CPU)

    def load(self):
        raise Reached(REACHED, "none: a test stub")

    monkeypatch.setattr(HFBackend, "load", load)
    return make_finished(tmp_path / "p")


def _flags(flags: list[str], sets: list[str]) -> list[str]:
    return [*flags, *[x for s in sets for x in ("--set", s)]]


def _check(proj, flags, sets, capsys) -> tuple[int, list[dict], dict[str, dict]]:
    rc = main(["check", str(proj.root), "--json", *_flags(flags, sets)])
    out = json.loads(capsys.readouterr().out)
    items = [i for sec in out["sections"].values() for i in sec]
    return rc, [i for i in items if i["status"] == "fail"], {i["name"]: i for i in items}


def _train(proj, flags, sets, capsys) -> tuple[int, dict, str]:
    rc = main(["train", str(proj.root), *_flags(flags, sets)])
    err = " ".join(capsys.readouterr().err.split())
    return rc, json.loads(proj.status_file.read_text()), err


REFUSED = {
    # case: (flags, --set, text in check's failed item and in train's status, error_kind)
    "unsafe --set on resume": (
        ["--resume"],
        ["training.learning_rate=1e-3"],
        "these --set values would change what its checkpoint was trained with",
        "resume_mismatch",
    ),
    "unsafe --set on resume, forced": (
        ["--resume", "--force"],
        ["lora.r=4"],
        "--set lora.r=4: the run was trained with lora.r=8",
        "resume_mismatch",
    ),
    "max_steps behind the checkpoint": (
        ["--resume"],
        ["training.max_steps=3"],
        "is already at step 4",
        "config",
    ),
    "an earlier run without --resume or --force": ([], [], "holds checkpoints of an earlier run", "usage"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_check_fails_with_trains_words_what_train_refuses_and_train_records_it(finished, capsys, case):
    flags, sets, text, kind = REFUSED[case]
    before = snapshot(finished.root)
    rc, failed, _ = _check(finished, flags, sets, capsys)
    assert rc == 1
    item = next((i for i in failed if text in i["detail"]), None)
    assert item is not None, failed
    assert snapshot(finished.root) == before  # check reads; it moves nothing

    rc, st, err = _train(finished, flags, sets, capsys)
    assert rc == 2 and REACHED not in err, err
    assert st["phase"] == "failed" and st["error_kind"] == kind and not st["running"]
    assert (item["detail"], item["fix"]) == (st["error"], st["solution"])  # word for word
    assert text in err and "Traceback" not in err  # and printed
    # the refusal is on record, and so is the run it did not replace
    prev = st["extra"]["previous_run"]
    assert (prev["run_id"], prev["phase"], prev["step"], prev["total_steps"]) == ("r-done", "done", 4, 4)
    log = finished.log_file.read_text()
    assert f"failed ({kind}): {st['error'].splitlines()[0]}" in log and f"fix: {st['solution']}" in log
    assert snapshot(finished.root) == before  # nothing on disk lost: checkpoints, run file, history


STARTS = {
    # case: (flags, --set, the check item that says so, its status)
    "plain resume": (["--resume"], [], "resume continues the run", "ok"),
    "resume further": (["--resume"], ["training.max_steps=8"], "resume continues the run", "ok"),
    "resume with a safe key": (["--resume"], ["training.save_total_limit=5"], "resume continues the run", "ok"),
    "a new run over the earlier one": (["--force"], [], "no earlier run in the output folder", "warn"),
}


@pytest.mark.parametrize("case", sorted(STARTS))
def test_check_is_ready_where_train_starts(finished, capsys, case):
    flags, sets, name, status = STARTS[case]
    before = snapshot(finished.root)
    rc, failed, items = _check(finished, flags, sets, capsys)
    assert rc == 0 and not failed, failed
    assert items[name]["status"] == status, items[name]
    rc, st, err = _train(finished, flags, sets, capsys)
    assert REACHED in st["error"], (st["error"], err)  # every decision before the weights passed
    # --force set the earlier run aside, then the failed start put it back
    assert snapshot(finished.root) == before


def test_resume_check_names_the_checkpoint_and_the_runs_recorded_config(finished, capsys):
    finished.config_file.write_text(json.dumps(apply_overrides(FILE, ["model.name=builtin:tiny-gemma3"])))
    rc, failed, items = _check(finished, ["--resume"], [], capsys)
    assert rc == 0, failed
    assert "model builtin:tiny-llama" in items["config valid"]["detail"]  # the run's, not the file's
    resume = items["resume continues the run"]
    assert resume["status"] == "warn"  # train warns that the file's model is not the run's
    assert "from checkpoint-4 (step 4) in outputs" in resume["detail"]
    assert "model.name 'builtin:tiny-llama' (file: 'builtin:tiny-gemma3')" in resume["detail"]


def test_changed_data_is_refused_on_resume_and_forced_through_with_force(finished, capsys):
    write_rows(finished.train_file, chat_rows(121))
    rc, failed, _ = _check(finished, ["--resume"], [], capsys)
    item = next(i for i in failed if "belongs to a different run" in i["detail"])
    assert rc == 1 and "train_sha256" in item["detail"] and "--force" in item["fix"]
    rc, st, _ = _train(finished, ["--resume"], [], capsys)
    assert rc == 2 and st["error_kind"] == "resume_mismatch" and item["detail"].splitlines()[0] in st["error"]
    assert st["extra"]["previous_run"]["phase"] == "done"

    rc, failed, items = _check(finished, ["--resume", "--force"], [], capsys)
    assert rc == 0 and not failed, failed
    resume = items["resume continues the run"]
    assert resume["status"] == "warn" and "resuming although the run changed (--force)" in resume["detail"]
    rc, st, _ = _train(finished, ["--resume", "--force"], [], capsys)
    assert REACHED in st["error"]


def test_no_valid_checkpoint_on_resume(finished, capsys):
    for step in (2, 4):
        (finished.root / "outputs" / f"checkpoint-{step}" / "optimizer.pt").write_bytes(b"")
    rc, failed, _ = _check(finished, ["--resume"], [], capsys)
    item = next(i for i in failed if "no valid checkpoint" in i["detail"])
    assert rc == 1 and "optimizer.pt" in item["detail"]  # the skipped checkpoints, as train logs them
    rc, st, _ = _train(finished, ["--resume"], [], capsys)
    assert rc == 1 and st["error_kind"] == "no_valid_checkpoint" and item["detail"].splitlines()[0] in st["error"]
    assert st["extra"]["previous_run"]["phase"] == "done"  # the run a resume was refused for stays on record


def test_resume_without_any_checkpoint_warns_and_starts_from_step_0(tmp_path, finished, capsys):
    import shutil

    shutil.rmtree(finished.root / "outputs")
    rc, failed, items = _check(finished, ["--resume"], [], capsys)
    assert rc == 0, failed
    assert items["resume continues the run"]["status"] == "warn"
    assert "no complete checkpoint" in items["resume continues the run"]["detail"]
    rc, st, _ = _train(finished, ["--resume"], [], capsys)
    assert REACHED in st["error"]


def test_refusals_in_a_row_keep_the_finished_run_on_record(finished, capsys):
    for flags, sets in ((["--resume"], ["training.learning_rate=1e-3"]), ([], []), (["--resume"], ["lora.r=4"])):
        rc, st, _ = _train(finished, flags, sets, capsys)
        assert rc == 2 and st["extra"]["refused"] is True
        prev = st["extra"]["previous_run"]
        assert (prev["run_id"], prev["phase"], prev["step"]) == ("r-done", "done", 4)
    main(["status", str(finished.root)])
    out = " ".join(capsys.readouterr().out.split())
    assert "before this attempt: r-done ended done at step 4/4" in out  # the resume was refused for r-done


def test_check_and_train_take_the_flags(capsys):
    for verb in ("check", "train"):
        assert main([verb, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--resume" in out and "--force" in out


def test_the_start_decisions_check_asks_import_no_torch():
    # check's own import path stays torch-free (only the hardware probe imports torch)
    import os
    import subprocess
    import sys

    import forge

    src = str(Path(forge.__file__).resolve().parents[1])  # this tree's forge, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import sys; import forge.commands.check, forge.check.before, forge.train.start, forge.train.resume, "
        "forge.train.resolved, forge.train.recipe; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "False"
