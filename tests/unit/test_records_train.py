"""The train records: the one history reader (torn lines, old spellings), stats and run file of an
older forge (no schema_version) still read, a newer one refused with the fix."""

from __future__ import annotations

import json

import pytest

from forge.records.base import RecordError, read_record, write_record
from forge.records.train import (
    HistoryRow,
    RunFile,
    TrainingStats,
    append_history,
    parse_history_line,
    read_history,
    write_history,
)


def test_history_reader_skips_a_torn_last_line_and_maps_old_spellings(tmp_path):
    path = tmp_path / "training-history.jsonl"
    lines = [
        # what forge wrote before records (no schema_version), a train row and an eval row
        {
            "step": 1,
            "epoch": 0.1,
            "loss": 2.5,
            "eval_loss": None,
            "learning_rate": 1e-4,
            "tokens_per_second": 10.0,
            "grad_norm": 1.2,
            "time": "2026-01-01T00:00:00Z",
        },
        {
            "step": 1,
            "epoch": 0.1,
            "loss": None,
            "eval_loss": 2.7,
            "learning_rate": None,
            "tokens_per_second": None,
            "time": "2026-01-01T00:00:01Z",
        },
        # another trainer's spellings
        {"global_step": 2, "train_loss": 2.0, "lr": 5e-5, "tokens/s": 12},
    ]
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"step": 3, "loss": 1.'  # torn by a kill
    path.write_text(text)
    rows = read_history(path)
    assert [r.step for r in rows] == [1, 1, 2]
    assert rows[0].loss == 2.5 and rows[0].grad_norm == 1.2 and not rows[0].is_eval
    assert rows[1].is_eval and rows[1].eval_loss == 2.7
    assert rows[2].loss == 2.0 and rows[2].learning_rate == 5e-5 and rows[2].tokens_per_second == 12


def test_history_round_trip_keeps_every_key(tmp_path):
    path = tmp_path / "h.jsonl"
    row = HistoryRow(
        step=4,
        epoch=0.5,
        loss=1.0,
        learning_rate=2e-4,
        tokens_per_second=3.0,
        grad_norm=0.5,
        time="2026-01-01T00:00:00Z",
    )
    write_history(path, [row])
    append_history(path, HistoryRow(step=4, eval_loss=1.1))
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(raw[0]) >= {
        "step",
        "epoch",
        "loss",
        "eval_loss",
        "learning_rate",
        "tokens_per_second",
        "grad_norm",
        "time",
        "schema_version",
    }
    assert [r.to_data() for r in read_history(path)] == raw


def test_non_finite_numbers_read_as_null():
    row = parse_history_line('{"step": 2, "loss": NaN, "eval_loss": Infinity}')
    assert row is not None and row.loss is None and row.eval_loss is None
    assert parse_history_line("not json") is None
    assert parse_history_line('{"loss": 1.0}') is None  # no step


def test_stats_of_the_original_script_and_of_an_older_forge_read(tmp_path):
    path = tmp_path / "training-stats.json"
    original = {
        "model": "unsloth/gemma-3-4b-it",
        "dataset_samples": 1200,
        "final_loss": 0.41,
        "total_steps": 450,
        "epochs": 3,
        "completed_at": "2025-01-03T12:00:00Z",
    }
    path.write_text(json.dumps(original))
    stats = read_record(path, TrainingStats)
    assert stats.final_loss == 0.41 and stats.schema_version == TrainingStats.SCHEMA_VERSION
    older = {**original, "plan": {"total_steps": 450}, "versions": {"torch": "2.0"}, "some_new_key": 1}
    path.write_text(json.dumps(older))
    assert read_record(path, TrainingStats).to_data()["some_new_key"] == 1


def test_a_newer_run_file_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "forge-run.json"
    write_record(path, RunFile(run_id="r1", fingerprint={"model": "m"}))
    assert read_record(path, RunFile).fingerprint == {"model": "m"}
    path.write_text(json.dumps({"schema_version": 99, "run_id": "r1"}))
    with pytest.raises(RecordError) as e:
        read_record(path, RunFile)
    assert "newer forge" in e.value.message and e.value.fix
    path.write_text(json.dumps({"fingerprint": {"model": "m"}}))  # an older forge's file: no run_id
    old = read_record(path, RunFile)
    assert old.run_id is None and old.fingerprint == {"model": "m"}
