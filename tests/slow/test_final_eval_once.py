"""Each eval once in the history and the stats, when max_steps is off the eval_steps cadence (slow).

2026-12-01 (QA): alpaca (rows 0-899 train, 900-998 val) on builtin:tiny-llama, eval_steps 3,
`forge train --set training.max_steps=5`: two identical eval rows at step 5 in
metrics/training-history.jsonl and eval_count 3 instead of 2; resumed from step 3 to 5, the same.
transformers 5 evaluates at the off-cadence last step itself, and the recipe evaluated again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import forge_here

from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

SETTINGS = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=128",
    "training.eval_steps=3",
    "training.save_steps=3",
    "training.eval_samples=8",
    "training.per_device_train_batch_size=2",
    "training.gradient_accumulation_steps=1",
    "training.warmup_steps=1",
]


def _alpaca_project(root: Path, external_dir: Path) -> Path:
    rows = json.loads((external_dir / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    proj, _ = init_project(root)
    for path, part in ((proj.train_file, rows[:900]), (proj.val_file, rows[900:999])):
        path.write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return proj.root


def _train(root: Path, *extra: str) -> None:
    args = [a for s in (*SETTINGS, *extra) if not s.startswith("--") for a in ("--set", s)]
    flags = [s for s in extra if s.startswith("--")]
    out = forge_here("train", str(root), *args, *flags)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def _evals(root: Path) -> tuple[list[int], int]:
    rows = [json.loads(line) for line in (root / "metrics" / "training-history.jsonl").read_text().splitlines()]
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    return [r["step"] for r in rows if r.get("eval_loss") is not None], stats["eval_count"]


def test_fresh_run_evaluates_the_last_step_once(tmp_path, external_dir):
    root = _alpaca_project(tmp_path / "fresh", external_dir)
    _train(root, "training.max_steps=5")
    assert _evals(root) == ([3, 5], 2)


def test_resumed_run_evaluates_the_last_step_once(tmp_path, external_dir):
    root = _alpaca_project(tmp_path / "resumed", external_dir)
    _train(root, "training.max_steps=3")
    assert _evals(root) == ([3], 1)
    _train(root, "training.max_steps=5", "--resume")
    assert _evals(root) == ([3, 5], 2)
