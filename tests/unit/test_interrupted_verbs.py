"""Ctrl-C or SIGTERM in a verb that does not train (export here) ends with one error, exit 130 /
143, one JSON object for --json, and a report that says so. Before: exit 130 and no word at all
(nothing on stdout for --json, the report's error "KeyboardInterrupt: "), and SIGTERM killed the
process with no report and a temporary file left behind."""

import json
import os
import signal
import time

import pytest

import forge.export.pipeline as pipeline
from forge.cli import main
from forge.config import ForgeConfig
from forge.project import Project


def _stop_by(sig):
    def step(job):
        if sig == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises in here
        raise AssertionError("SIGTERM did not stop the verb")

    return step


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupted_export_says_so(tmp_path, monkeypatch, capsys, sig, code, name):
    proj = Project.at(tmp_path)
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(pipeline, "STEPS", (_stop_by(sig),))
    before = signal.getsignal(signal.SIGTERM)

    assert main(["export", str(tmp_path), "--merged", "--json"]) == code

    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "interrupted" and doc["exit_code"] == code
    assert doc["error"].startswith(f"forge export: interrupted by {name}")
    assert doc["fix"] == f"run it again: forge export {tmp_path} --merged --json"
    report = json.loads(proj.export_report_file.read_text())
    assert report["ok"] is False and report["error"] == f"interrupted by {name} before the export finished"
    assert signal.getsignal(signal.SIGTERM) == before  # the verb's handler is gone with it


def test_export_project_itself_still_raises(tmp_path, monkeypatch):
    """The pipeline's callers (demo, train's export) see the interrupt as it is."""
    monkeypatch.setattr(pipeline, "STEPS", (_stop_by(signal.SIGINT),))
    with pytest.raises(KeyboardInterrupt):
        pipeline.export_project(Project.at(tmp_path), ForgeConfig(), True, [])
