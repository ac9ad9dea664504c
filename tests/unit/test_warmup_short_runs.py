"""A run shorter than its warm-up never reaches its learning rate: the plan keeps warm-up inside
short runs and says so where the config asks for more (QA: 5 warm-up steps of a 3-step run, no word)."""

from __future__ import annotations

import json

from model_folders import chat_rows, write_rows

from forge.cli import main


def _plan(tmp_path, capsys, *sets):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p", model="builtin:tiny-llama")
    write_rows(proj.train_file, chat_rows(40))
    write_rows(proj.val_file, chat_rows(4, "v"))
    main(["plan", str(proj.root), "--json", "--set", "training.max_steps=3", *sets])
    return json.loads(capsys.readouterr().out)


def test_the_plan_keeps_warmup_inside_a_short_run(tmp_path, capsys):
    out = _plan(tmp_path, capsys)
    warm = out["settings"]["training.warmup_steps"]
    assert warm["value"] == 0 and "a tenth of the 3 steps" in warm["reason"], warm
    assert not any("warmup" in json.dumps(w) for w in out["warnings"])


def test_a_warmup_the_run_never_finishes_is_said(tmp_path, capsys):
    out = _plan(tmp_path, capsys, "--set", "training.warmup_steps=5")
    assert any("never reaches training.learning_rate" in json.dumps(w) for w in out["warnings"]), out["warnings"]
