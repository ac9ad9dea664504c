"""The gate's hints name the project folder as every other hint does (forge.hints): absolute, in
what is read from anywhere. QA: metrics/evaluation.json kept "rerun `forge baseline`" without a
folder, and the web page wrote its own "run forge baseline, then forge evaluate after training"
under the gate badge, naming none."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from model_folders import write_adapter

from evaluate_files import scores, stand_in_scoring, write_metrics
from forge.cli import main


def _absolute(project) -> str:
    return shlex.quote(str(Path(project.root).resolve()))


def test_evaluation_json_names_the_folder_in_its_reasons(project, monkeypatch, tmp_path, capsys):
    stand_in_scoring(
        monkeypatch, scores(0.0, 1.0, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0)
    )  # a baseline loss of 0: unusable
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    write_adapter(project.lora_dir, "builtin:tiny-llama")
    monkeypatch.chdir(tmp_path)  # another folder than the project's
    assert main(["baseline", str(project.root)]) == 0
    assert main(["evaluate", str(project.root)]) == 3
    (reason,) = json.loads(project.evaluation_file.read_text())["reasons"][:1]
    assert reason.endswith(f"rerun `forge baseline {_absolute(project)}`")


def test_the_gate_note_names_the_folder_and_the_page_has_none_of_its_own(project):
    from forge.web.app import STATIC_DIR
    from forge.web.metrics import gate_note, metrics_view

    folder = _absolute(project)
    assert metrics_view(project)["gate_note"] == (
        f"no baseline yet: run `forge baseline {folder}`, then `forge evaluate {folder}` after training"
    )
    write_metrics(project, tuned=None)  # made for another model and val file than the project's now
    note = metrics_view(project)["gate_note"]
    assert note.startswith("stale baseline: ") and f"`forge baseline {folder}` again" in note
    usable = {"baseline": {}, "baseline_stale": False, "evaluation": None}
    assert gate_note(usable, project.root) == f"run `forge evaluate {folder}` after training to apply the gate"
    write_metrics(project)
    assert metrics_view(project)["gate_note"] is None  # evaluated: the badge's own numbers
    js = (STATIC_DIR / "app.js").read_text()
    assert "forge baseline" not in js and "forge evaluate" not in js and "m.gate_note" in js


def test_an_older_evaluation_json_is_named_on_read(project):
    from forge.web.metrics import metrics_view

    write_metrics(project, base=(0.0, 1.0, 0.14, 0.0))  # build_evaluation without a folder, as before
    assert json.loads(project.evaluation_file.read_text())["reasons"][0].endswith("rerun `forge baseline`")
    reasons = metrics_view(project)["evaluation"]["reasons"]
    assert reasons[0].endswith(f"rerun `forge baseline {_absolute(project)}`")


def test_the_api_serves_the_gate_note(project):
    from fastapi.testclient import TestClient

    from forge.plan.hardware import HardwareInfo
    from forge.web.app import create_app

    client = TestClient(create_app([project.root], hardware=HardwareInfo()), base_url="http://127.0.0.1:7860")
    note = client.get("/api/projects/0/metrics").json()["gate_note"]
    assert note.startswith(f"no baseline yet: run `forge baseline {_absolute(project)}`")
