"""The end of `forge train` repeats how many examples were dropped: the warning during the run
scrolls away, and a run that trained on half its data must not end on a plain 'done'."""

import io
from types import SimpleNamespace

from rich.console import Console

from forge.commands.train import _summary
from forge.config import load_config
from forge.errors import EXIT_OK
from forge.init.scaffold import init_project
from forge.train.start import TrainRequest


def _run(tmp_path, data):
    project, _ = init_project(tmp_path / "p")
    cfg = load_config(project.config_file, [])
    out = io.StringIO()
    result = SimpleNamespace(
        exit_code=EXIT_OK,
        status=SimpleNamespace(phase="done", message=None, error=None, solution=None),
        stats={"total_steps": 2, "final_loss": 1.0, "eval_loss": 1.1, "duration_seconds": 3, "data": data},
    )
    _summary(Console(file=out, width=300), project, result, cfg, TrainRequest())
    return out.getvalue()


def test_dropped_examples_are_in_the_summary(tmp_path):
    text = _run(
        tmp_path,
        {"total": 270, "dropped_no_trained_tokens": 135, "first_error": "data/splits/train.jsonl:6: TemplateError: x"},
    )
    assert "done" in text
    assert "135 of 270 training examples dropped" in text and "data/splits/train.jsonl:6" in text


def test_no_drop_no_line(tmp_path):
    assert "dropped" not in _run(tmp_path, {"total": 10, "dropped_no_trained_tokens": 0})
