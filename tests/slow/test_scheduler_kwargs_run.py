"""training.lr_scheduler_kwargs reaches the Trainer: a cosine_with_min_lr run (which failed after the
model loaded without its min_lr, QA 2026-12) trains to the end and never goes below its floor."""

from __future__ import annotations

import json

import pytest
from tests.conftest import forge_here

from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

LR, FLOOR = 1e-3, 0.5


def test_cosine_with_min_lr_trains_down_to_its_floor(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    rows = [
        {"conversations": [{"from": "human", "value": f"q {i}?"}, {"from": "gpt", "value": "forty-two."}]}
        for i in range(24)
    ]
    for path, part in ((proj.train_file, rows[:16]), (proj.val_file, rows[16:])):
        path.write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    sets = [
        "model.name=builtin:tiny-llama",
        "model.load_in_4bit=false",
        "model.max_seq_length=64",
        "training.max_steps=6",
        "training.warmup_steps=0",
        f"training.learning_rate={LR}",
        "training.lr_scheduler_type=cosine_with_min_lr",
        f'training.lr_scheduler_kwargs={{"min_lr_rate": {FLOOR}}}',
    ]
    res = forge_here("train", str(proj.root), *[x for s in sets for x in ("--set", s)])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    history = [json.loads(line) for line in proj.history_file.read_text().splitlines() if line.strip()]
    rates = [r["learning_rate"] for r in history if r.get("learning_rate") is not None]
    assert len(rates) >= 5
    assert min(rates) >= LR * FLOOR * (1 - 1e-6) and rates[-1] < rates[0]  # decays, down to the floor only
    run = json.loads((proj.root / "outputs" / "forge-run.json").read_text())
    assert run["config"]["training"]["lr_scheduler_kwargs"] == {"min_lr_rate": FLOOR}
