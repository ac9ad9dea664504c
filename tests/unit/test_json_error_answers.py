"""`--json` answers on failure, and --json answers that are the records the verbs wrote.

QA: `forge train d --json --set lora.r=-1`, `forge evaluate emptydir --json`, `forge export emptydir
--json` and `forge plan nonexist --json` printed nothing on stdout (the error went to stderr
only); `baseline --json` left out the `scores` that metrics/baseline.json has, `evaluate --json`
the `fine_tuned_scores`.
"""

from __future__ import annotations

import json

import pytest
from model_folders import write_adapter

from evaluate_files import scores, stand_in_scoring
from forge.cli import main

KEYS = {"error", "fix", "kind", "exit_code"}


def _answer(capsys, *argv) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, json.loads(out.out), " ".join(out.err.split())


@pytest.fixture
def empty(tmp_path):
    d = tmp_path / "emptydir"
    d.mkdir()
    return d


@pytest.mark.parametrize(
    "argv, code, kind",
    [
        (["evaluate", "{empty}", "--json"], 2, None),
        (["export", "{empty}", "--json"], 1, "adapter_missing"),
        (["plan", "{missing}", "--json"], 2, None),
        (["baseline", "{empty}", "--json"], 2, None),
        (["verify", "{empty}", "--json", "--config", "nope.json"], 2, "config"),
        (["export", "{empty}", "--json", "--gguf"], 2, "usage"),  # refused by the parser itself
        (["demo", "{empty}", "--json", "--bogus"], 2, "usage"),
    ],
)
def test_a_failure_with_json_prints_one_error_object(capsys, empty, tmp_path, argv, code, kind):
    argv = [a.format(empty=empty, missing=tmp_path / "nonexist") for a in argv]
    got, doc, err = _answer(capsys, *argv)
    assert got == code and KEYS <= set(doc) and doc["exit_code"] == code and doc["ok"] is False
    assert doc["error"] and (kind is None or doc["kind"] == kind)
    assert err  # the human text stays on stderr


def test_a_config_refused_by_train_is_answered_in_json(project, capsys):
    code, doc, err = _answer(capsys, "train", str(project.root), "--json", "--set", "lora.r=-1")
    assert code == 2 and doc["kind"] == "config" and "lora.r" in doc["error"] and doc["fix"]
    assert "lora.r" in err


def test_a_broken_config_file_names_its_file_and_line(project, capsys):
    project.config_file.write_text('{\n  "model": {\n    "name": "builtin:tiny-llama",\n  }\n}\n')
    code, doc, _ = _answer(capsys, "verify", str(project.root), "--json")
    assert code == 2 and doc["kind"] == "config"
    assert doc["file"] == str(project.config_file) and doc["line"] == 4


def test_bad_training_data_names_its_file_and_first_bad_line(project, capsys):
    rows = project.train_file.read_text().splitlines()
    rows[6] = '{"conversations": "not a list"}'
    project.train_file.write_text("\n".join(rows) + "\n")
    code, doc, _ = _answer(capsys, "train", str(project.root), "--json", "--set", "model.name=builtin:tiny-llama")
    assert code == 2 and doc["kind"] == "data"
    assert doc["file"].endswith("train.jsonl") and doc["line"] == 7


# --- --json carries the record the verb wrote, key for key ------------------------------------------


@pytest.fixture
def scored(project, monkeypatch):
    """baseline and evaluate with only the model pass stood in for (as test_evaluate_seams)."""
    stand_in_scoring(monkeypatch, scores(2.0, 7.39, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0))
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    write_adapter(project.lora_dir, "builtin:tiny-llama")
    return project


def _record_in_envelope(doc: dict, record: dict, verb: str) -> bool:
    """The record key for key, after the envelope every --json document shares (ok, verb, schema_version)."""
    return record.items() <= doc.items() and set(doc) - set(record) == {"ok", "verb"} and doc["verb"] == verb


def test_baseline_and_evaluate_json_are_the_records_they_wrote(scored, capsys):
    code, doc, _ = _answer(capsys, "baseline", str(scored.root), "--json")
    assert code == 0 and _record_in_envelope(doc, json.loads(scored.baseline_file.read_text()), "baseline")
    assert "scores" in doc and doc["ok"] is True
    code, doc, _ = _answer(capsys, "evaluate", str(scored.root), "--json", "--threshold", "0")
    assert code == 0 and _record_in_envelope(doc, json.loads(scored.evaluation_file.read_text()), "evaluate")
    assert "fine_tuned_scores" in doc
