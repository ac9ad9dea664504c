"""Every `fix:` and `next:` command forge prints is one forge accepts in that state.

QA (issue 28): after two quick Ctrl-C on `train --resume` the hint was `next: forge train DIR`,
refused ("holds checkpoints", exit 2); after a SIGTERM of a `--force` run it dropped `--force`;
with a truncated adapter "re-run `forge train DIR`" was refused where `--resume` works, and export
printed safetensors' raw "Error while deserializing header". Here the error outputs of those
states are collected, and each command they print is run: a train hint up to where training would
start (tests/slow/inject_start_probe, exit 99), any other verb for real; none may be refused as a
usage error (exit 2) or for the checkpoints.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import forge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # finished_run: a run written by hand
from finished_run import make_finished  # noqa: E402

from forge.status import Status  # noqa: E402

pytestmark = pytest.mark.slow

PROBE = Path(__file__).resolve().parent / "inject_start_probe"
SRC = Path(forge.__file__).resolve().parents[1]  # the forge under test (PYTHONPATH)
ACCEPTED = 99  # the probe's exit: train got past every refusal


def _forge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROBE), str(SRC)]), "COLUMNS": "400"}
    env["FORGE_TEST_STOP_AT_START"] = "1"
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "forge", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def hints(text: str) -> list[list[str]]:
    """The forge commands a text tells to run: backquoted ones, and those after `next:`."""
    text = " ".join(text.split())
    found = re.findall(r"`(forge [^`]+)`", text)
    found += [m.split(" (")[0].split(", then")[0] for m in re.findall(r"next: (forge [^;]+?)(?: \(|$|; )", text)]
    out = []
    for cmd in found:
        words = shlex.split(cmd)[1:]
        if words and not any(w in ("DIR", "N", "M", "...") or w.startswith("key=") for w in words):
            out.append(words)
    return out


def _run_hint(words: list[str], cwd: Path) -> None:
    res = _forge(*words, cwd=cwd)
    said = " ".join((res.stdout + res.stderr).split())
    if words[0] == "train":
        assert res.returncode == ACCEPTED, (words, res.returncode, said[-2000:])
    else:
        assert res.returncode != 2 and "No such option" not in said, (words, said[-2000:])
    assert "holds checkpoints" not in said and "Traceback" not in said, (words, said[-2000:])


@pytest.fixture
def truncated(tmp_path):
    proj = make_finished(tmp_path / "p")
    weights = proj.lora_dir / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-2])  # cut short after its header
    return proj


def test_the_hints_of_a_truncated_adapter_are_accepted(truncated, tmp_path):
    root = str(truncated.root)
    said = []
    for argv in (["export", root, "--merged"], ["verify", root], ["evaluate", root]):
        res = _forge(*argv, cwd=tmp_path)
        out = res.stdout + res.stderr
        assert "deserializing" not in out and "Traceback" not in out, out[-2000:]
        said.append(out)
    assert "is damaged: truncated" in " ".join(said[0].split())  # export names the file, before loading
    found = [h for out in said for h in hints(out)]
    trains = [h for h in found if h[0] == "train"]
    assert trains and all("--resume" in h for h in trains), found
    for words in {tuple(h) for h in found}:
        _run_hint(list(words), tmp_path)


def _interrupted_hint(proj, *, resume: bool, force: bool, run_id: str) -> list[str]:
    """What `forge train` prints when a run of these options was stopped (a second signal: no
    checkpoint named in the result, as `stopped at once` leaves it)."""
    from forge.commands.train import _summary
    from forge.config import load_config
    from forge.train.recipe import RunResult
    from forge.train.start import TrainRequest

    st = Status(
        phase="interrupted", run_id=run_id, message="stopped at once; resume from the newest complete checkpoint"
    )
    buf = io.StringIO()
    cfg = load_config(proj.config_file)
    _summary(Console(file=buf, width=400), proj, RunResult(130, st), cfg, TrainRequest(resume=resume, force=force))
    (hint,) = hints(buf.getvalue())
    return hint


def test_the_next_command_after_an_interrupted_run_is_accepted(tmp_path):
    proj = make_finished(tmp_path / "p")
    after_resume = _interrupted_hint(proj, resume=True, force=False, run_id="r-done")
    assert "--resume" in after_resume
    # a --force run stopped before its first checkpoint: the earlier run is back, --force is still needed
    after_force = _interrupted_hint(proj, resume=False, force=True, run_id="r-new")
    assert "--force" in after_force and "--resume" not in after_force
    for words in (after_resume, after_force):
        _run_hint(words, proj.root)


def test_the_hint_finder_reads_both_forms():
    text = "fix: re-run `forge train /p --resume` (it saves)\nnext: forge verify /p (outputs checklist), then x"
    assert hints(text) == [["train", "/p", "--resume"], ["verify", "/p"]]
