"""Issue 15 end to end on builtin:tiny-llama: a ready check means train starts and trains with the
resolved values (bounded eval: the issue's 999-row val), and a 50 MB record trains under 2 GB RSS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import forge_here

pytestmark = pytest.mark.slow

SETS = ["model.name=builtin:tiny-llama", "model.load_in_4bit=false", "training.max_steps=10"]


def _rows(n: int, prefix: str) -> list[dict]:
    return [
        {"conversations": [{"from": "human", "value": f"{prefix} {i}?"}, {"from": "gpt", "value": "forty two."}]}
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _sets(items) -> list[str]:
    return [x for s in items for x in ("--set", s)]


def test_ready_means_train_starts_with_the_resolved_bounded_eval(tmp_path):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    _write(proj.train_file, _rows(120, "q"))
    _write(proj.val_file, _rows(999, "v"))
    res = forge_here("check", str(proj.root), "--json", *_sets(SETS))
    assert res.returncode == 0, res.stdout[-3000:]
    res = forge_here("train", str(proj.root), *_sets(SETS))
    assert res.returncode == 0, res.stderr[-3000:]
    run = json.loads((proj.root / "outputs" / "forge-run.json").read_text())
    # 8bff25f: eval_steps 1, all 999 val rows at every step
    assert run["config"]["training"]["eval_steps"] == 10 and run["config"]["training"]["eval_samples"] == 32
    assert run["resolved"]["settings"]["training.eval_samples"]["value"] == 32
    assert run["config"]["dataset"]["chat_template"] == "tokenizer"  # auto -> the model's own
    status = json.loads(proj.status_file.read_text())
    assert status["phase"] == "done" and status["extra"].get("eval_samples") == 32
    assert "eval on 32 of 999 val examples" in proj.log_file.read_text()


WRAP = """
import resource, subprocess, sys
r = subprocess.run([sys.executable, "-m", "forge", *sys.argv[1:]], capture_output=True, text=True)
sys.stderr.write(r.stderr[-3000:])
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_a_50mb_record_trains_under_2gb_rss(tmp_path):
    # 8bff25f: one 50 MB example passed check and train peaked at 10 GB RSS
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    text = ("the answer to the question is forty two " * (50_000_000 // 40 + 1))[:50_000_000]
    rows = _rows(16, "q") + [{"conversations": [{"from": "human", "value": "hi?"}, {"from": "gpt", "value": text}]}]
    _write(proj.train_file, rows)
    del text, rows
    sets = _sets([*SETS, "training.max_steps=2", "dataset.val_path=null", "model.max_seq_length=256"])
    res = subprocess.run([sys.executable, "-c", WRAP, "train", str(proj.root), *sets], capture_output=True, text=True)
    rc, rss_kb = map(int, res.stdout.split())
    assert rc == 0, res.stderr
    assert rss_kb < 2 * 1024 * 1024, f"peak RSS {rss_kb / 1024:.0f} MB"
    log = proj.log_file.read_text()
    assert "data/splits/train.jsonl:17: 50,000,003 characters cut to 8,192 before tokenization" in log
