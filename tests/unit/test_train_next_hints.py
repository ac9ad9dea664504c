"""The `next:` lines `forge train` ends with are commands to paste as they are, from the folder it
ran in. Before: an interrupted run said `continue with forge train --resume` (no folder: run from
elsewhere it resumed nothing), and a resumed run's hint repeated its --set
(`--set training.max_steps=140 --set training.max_steps=140`)."""

import io
from types import SimpleNamespace

from rich.console import Console

from forge.commands.train import _summary
from forge.config import ForgeConfig
from forge.config.verb_config import stacked
from forge.errors import EXIT_OK, EXIT_SIGINT
from forge.project import Project
from forge.status import Status
from forge.train.start import TrainRequest


def _printed(project, result, request) -> str:
    out = io.StringIO()
    _summary(Console(file=out, width=400), project, result, ForgeConfig(), request)
    return out.getvalue()


def _project(tmp_path, monkeypatch) -> Project:
    root = tmp_path / "my proj"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    return Project.at(root)


def test_an_interrupted_run_names_the_folder_to_resume(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch)
    st = Status(phase="interrupted", message="checkpoint outputs/checkpoint-14; continue with `forge train --resume`")
    result = SimpleNamespace(exit_code=EXIT_SIGINT, status=st, stats={"checkpoint": "outputs/checkpoint-14"})
    text = _printed(project, result, TrainRequest(overrides=["training.max_steps=400"]))
    assert "next: forge train 'my proj' --resume\n" in text


def test_interrupted_before_a_checkpoint_is_the_same_command_again(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch)
    st = Status(phase="interrupted", message="SIGINT before training started; nothing to resume")
    st.extra = {"config_source": {"file": "training-config.json", "overrides": ["training.max_steps=3"]}}
    result = SimpleNamespace(exit_code=EXIT_SIGINT, status=st, stats={})
    text = _printed(project, result, TrainRequest(overrides=["training.max_steps=3"]))
    assert "next: forge train 'my proj' --set training.max_steps=3\n" in text


def test_the_done_hint_reads_the_source_the_run_recorded(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch)
    st = Status(phase="done")
    st.extra = {"config_source": {"file": "exp 2.json", "overrides": ["training.max_steps=142"]}}
    stats = {"total_steps": 142, "final_loss": 1.0, "eval_loss": 1.0, "duration_seconds": 1}
    result = SimpleNamespace(exit_code=EXIT_OK, status=st, stats=stats)
    text = _printed(project, result, TrainRequest(resume=True, overrides=["training.max_steps=142"]))
    flags = "'my proj' --config 'exp 2.json' --set training.max_steps=142"
    assert f"next: forge verify {flags} (outputs checklist), then forge evaluate {flags}\n" in text


def test_a_resume_stacks_each_key_once():
    assert stacked(
        ("training.max_steps=400", "training.save_steps=10", "training.max_steps=140"), ["training.max_steps=142"]
    ) == ("training.save_steps=10", "training.max_steps=142")
    assert stacked(("a=1",), None) == ("a=1",)
