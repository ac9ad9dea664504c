"""`forge evaluate` and `forge export` judge the adapter alike (forge.models.adapter_base).

QA: with no adapter, evaluate exited 2 and export 1; with an adapter of another base than
model.name, evaluate refused naming the base by its cache path (/root/.cache/forge/builtin/
tiny-gemma3-v1) while export warned and merged into the adapter's base. Now: no adapter is exit 1
(`adapter_missing`, an earlier step's output is not there) for both; another base is exit 2
(`adapter_mismatch`, the config contradicts the adapter) for both, the base named `builtin:...`.
"""

from __future__ import annotations

import json

import pytest
from model_folders import write_adapter

from evaluate_files import scores
from forge.cli import main


def _set_model(project, name):
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = name
    project.config_file.write_text(json.dumps(cfg))


def _json(capsys, *argv) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def prepared(project, tmp_path):
    """model.name a local folder; a baseline that fits, so evaluate gets as far as the adapter."""
    from forge.evaluate.baseline import load_val, scored_on
    from forge.records.base import write_record
    from forge.records.evaluate import BaselineRecord

    base = tmp_path / "base-model"
    base.mkdir()
    _set_model(project, str(base))
    now = scored_on(project, load_val(project, None))
    write_record(project.baseline_file, BaselineRecord.build(now, scores(2.0, 7.39, 0.2, 0.0), "2026-12-01T10:00:00Z"))
    return project


def test_no_adapter_is_the_same_exit_code_and_kind_for_evaluate_and_export(prepared, capsys):
    ev_code, ev = _json(capsys, "evaluate", str(prepared.root), "--json")
    ex_code, ex = _json(capsys, "export", str(prepared.root), "--json")
    assert ev_code == ex_code == 1
    assert ev["kind"] == ex["kind"] == "adapter_missing"
    assert "forge train" in ev["fix"] and "forge train" in ex["fix"]


def test_an_adapter_of_another_base_is_refused_by_both_naming_the_builtin(prepared, tmp_path, capsys):
    gemma = tmp_path / "cache" / "builtin" / "tiny-gemma3-v1"  # a built-in's folder, as the cache holds it
    gemma.mkdir(parents=True)
    (gemma / "forge-builtin.json").write_text(json.dumps({"name": "builtin:tiny-gemma3", "version": "v1"}))
    write_adapter(prepared.lora_dir, str(gemma))
    for verb in ("evaluate", "export"):
        code, doc = _json(capsys, verb, str(prepared.root), "--json")
        assert code == 2 and doc["kind"] == "adapter_mismatch", (verb, doc)
        assert "'builtin:tiny-gemma3'" in doc["error"] and "model.name" in doc["error"], verb
        assert "builtin:tiny-gemma3" in doc["fix"] and "forge train" in doc["fix"], verb
    assert not prepared.evaluation_file.exists()


def test_a_base_that_is_model_name_resolved_passes_both_checks(prepared, tmp_path):
    """The adapter records the resolved folder, the config names it another way: the same model."""
    from forge.models.adapter_base import adapter_base

    name = json.loads(prepared.config_file.read_text())["model"]["name"]
    write_adapter(prepared.lora_dir, str(tmp_path / "base-model" / "."))
    base = adapter_base(prepared.lora_dir, name)
    assert base.name == name


def test_the_display_name_of_a_builtin_folder():
    from forge.models.adapter_base import display_name

    assert display_name("/nowhere/at/all") == "/nowhere/at/all"
    assert display_name("builtin:tiny-llama") == "builtin:tiny-llama"
