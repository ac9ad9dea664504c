"""A project whose run finished, as the recipe leaves it, written by hand (no torch, no training):
checkpoint-2 and checkpoint-4 (whole, forge's marker), outputs/forge-run.json with the run's config
and fingerprint, the history, the adapter, the stats, and a "done" status of run `r-done`."""

from __future__ import annotations

import json
from pathlib import Path

from model_folders import chat_rows, write_adapter, write_rows
from test_security_checkpoints import make_checkpoint

from forge.config import validate_dict
from forge.records.train import HistoryRow, write_history
from forge.status import StatusWriter
from forge.train.resolved import fingerprint, write_run_file

FILE = {
    "model": {"name": "builtin:tiny-llama", "load_in_4bit": False},
    "training": {"max_steps": 4, "save_steps": 2},
}
RUN_ID = "r-done"


def make_finished(root: Path):
    from forge.init.scaffold import init_project

    proj, _ = init_project(root)
    write_rows(proj.train_file, chat_rows(120))
    write_rows(proj.val_file, chat_rows(12, "v"))
    proj.config_file.write_text(json.dumps(FILE))
    cfg = validate_dict(FILE)
    out = proj.root / "outputs"
    for step in (2, 4):
        make_checkpoint(out, step)
    fp = fingerprint(cfg, proj.train_file, proj.val_file)
    started = "2026-12-01T10:00:00Z"
    write_run_file(out, {"run_id": RUN_ID, "started_at": started, "fingerprint": fp, "config": cfg.to_json_dict()})
    write_history(proj.history_file, [HistoryRow(step=s, loss=1.0 / s) for s in (1, 2, 3, 4)])
    write_adapter(proj.lora_dir, "builtin:tiny-llama")
    proj.training_stats_file.write_text(json.dumps({"run_id": RUN_ID, "total_steps": 4, "final_loss": 0.25}))
    proj.log_file.parent.mkdir(parents=True, exist_ok=True)
    proj.log_file.write_text(f"2026-12-01 10:00:09 INFO    done: 4 steps (run {RUN_ID})\n")
    StatusWriter(proj.status_file, run_id=RUN_ID, started_at=started).phase("done", step=4, total_steps=4)
    return proj


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the run a refusal must leave alone: checkpoints, run file, history, stats, adapter.

    Not metrics/runs.jsonl: like logs/training.log it is a record of every attempt, and a start that
    failed after its checks (a model that would not load) is one more line there, by design."""
    keep = [root / "outputs", root / "metrics", root / "models"]
    files = (p for d in keep for p in sorted(d.rglob("*")) if p.is_file() and p.name != "runs.jsonl")
    return {str(p.relative_to(root)): p.read_bytes() for p in files}
