"""Every verb that works on a project refuses a folder that is not there, the same way (exit 2, a
usage error that names the path), and leaves nothing behind. Before, `forge export typo` made the
folder to write metrics/export-report.json in, baseline and evaluate blamed data/splits/val.jsonl,
and check and verify listed every item as missing (exit 1)."""

import json

import pytest

from forge.cli import main

VERBS = ["check", "plan", "train", "baseline", "evaluate", "export", "verify", "status", "chat"]


@pytest.mark.parametrize("verb", VERBS)
def test_a_missing_folder_is_a_usage_error_and_stays_missing(tmp_path, verb, capsys):
    missing = tmp_path / "typo"
    assert main([verb, str(missing), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["kind"] == "usage" and doc["exit_code"] == 2
    assert doc["error"] == f"not a folder: {missing} (nothing is there)"
    assert not missing.exists()


@pytest.mark.parametrize("verb", ["check", "export", "verify"])
def test_a_file_is_not_a_project(tmp_path, verb, capsys):
    f = tmp_path / "training-config.json"
    f.write_text("{}")
    assert main([verb, str(f)]) == 2
    assert "(it is a file)" in capsys.readouterr().err
