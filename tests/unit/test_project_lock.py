"""One project lock for every verb that writes the project (issue 17); readers never take it.

A second writer is refused with the holder's pid and verb; a dead holder's lock is taken over;
within one process the lock nests (demo runs the verbs one inside another's lock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from forge.cli import main
from forge.init.scaffold import init_project
from forge.lock import LockHeld, ProjectLock, holder, lock_path, project_lock, writes_project
from forge.plan.hardware import HardwareInfo
from forge.project import Project

HW = HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible (test)")

HOLD = """
import sys, time
from forge.lock import project_lock
from forge.project import Project
with project_lock(Project.at(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)  # killed by the test
"""


@pytest.fixture
def proj(tmp_path) -> Project:
    p, _ = init_project(tmp_path / "proj", example="support", model="builtin:tiny-llama")
    return p


@pytest.fixture
def held(proj):
    """Another process holds the lock as `forge train` would while it runs."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(proj.root), "train"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    yield child
    child.kill()
    child.wait()


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_second_writer_is_refused_naming_the_holders_pid_and_verb(proj, held):
    with pytest.raises(LockHeld) as e:
        with project_lock(proj, "export"):
            pass
    assert f"forge train (pid {held.pid})" in e.value.message and "forge export refused" in e.value.message
    assert e.value.exit_code == 1 and e.value.kind == "locked" and f"kill {held.pid}" in e.value.fix
    assert holder(proj) == (held.pid, "train")  # what a reader can show, without locking


def test_a_dead_holders_lock_is_taken_over(proj, held):
    held.kill()
    held.wait()
    assert holder(proj) is None  # its line is still in the file, but the pid is gone
    with project_lock(proj, "export") as lock:
        assert (lock.previous_pid, lock.previous_verb) == (held.pid, "train")
        assert lock_path(proj).read_text() == f"{os.getpid()} export\n"
    assert lock_path(proj).read_text() == ""


def test_the_lock_nests_within_a_process_and_is_released_by_the_outermost(proj):
    check = [sys.executable, "-c", HOLD, str(proj.root), "init"]
    with project_lock(proj, "demo"):
        with project_lock(proj, "train"):
            pass
        child = subprocess.run(check, capture_output=True, text=True, timeout=60)
        assert child.returncode != 0 and "forge demo" in child.stderr  # still held after the inner release
    child = subprocess.Popen(check, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
    finally:
        child.kill()
        child.wait()


def test_the_verb_with_an_option_is_named_whole(proj):
    with ProjectLock(lock_path(proj), "plan --write"):
        assert holder(proj) == (os.getpid(), "plan --write")


def test_writes_project_locks_a_folder_that_exists_only(tmp_path):
    seen = []

    @writes_project("init")
    def make(directory):
        seen.append(holder(directory))

    make(tmp_path / "not-yet")  # nothing to lock: init makes the folder
    make(tmp_path)
    assert seen == [None, (os.getpid(), "init")]


@pytest.mark.parametrize(
    "argv",
    [
        ["init", "{root}"],
        ["baseline", "{root}"],
        ["evaluate", "{root}"],
        ["export", "{root}", "--merged"],
    ],
)
def test_every_writing_verb_is_refused_while_train_runs(proj, held, argv, capsys):
    before = _snapshot(proj)
    code = main([a.format(root=proj.root) for a in argv])
    err = flat(capsys.readouterr().err)
    assert code == 1, err
    assert f"forge {argv[0]} refused" in err and f"forge train (pid {held.pid})" in err, err
    assert _snapshot(proj) == before, "the refused verb wrote to the project"


def test_plan_write_is_refused_while_train_runs(proj, held, capsys):
    from forge.commands import plan

    before = proj.config_file.read_text()
    with pytest.raises(LockHeld) as e:
        plan.run(proj.root, write=True, hardware=HW)
    assert f"forge train (pid {held.pid})" in e.value.message and "forge plan --write refused" in e.value.message
    assert proj.config_file.read_text() == before
    assert plan.run(proj.root, write=False, hardware=HW, json_out=True) == 0  # the plan alone reads only


def test_readers_work_while_the_lock_is_held_and_never_take_it(proj, held, monkeypatch, capsys):
    def no_lock(self):
        raise AssertionError(f"a reader took the project lock ({self.verb})")

    monkeypatch.setattr(ProjectLock, "acquire", no_lock)
    monkeypatch.setattr("forge.plan.hardware.probe", lambda *a, **k: HW)
    assert main(["status", str(proj.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["running"] is False
    assert main(["verify", str(proj.root), "--json"]) == 1  # nothing trained yet: not ready, but it ran
    assert "Required" in json.loads(capsys.readouterr().out)["sections"]
    assert main(["check", str(proj.root), "--json"]) in (0, 1)
    assert "Data Ready" in json.loads(capsys.readouterr().out)["sections"]

    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from forge.web.app import create_app

    c = TestClient(create_app([proj.root], hardware=HW), base_url="http://127.0.0.1:7860")
    for url in ("/api/projects", "/api/projects/0/status", "/api/projects/0/checklist", "/api/projects/0/metrics"):
        assert c.get(url).status_code == 200, url
    assert holder(proj) == (held.pid, "train")


def _snapshot(p: Project) -> dict:
    time.sleep(0.01)
    out = {}
    for f in sorted(p.root.rglob("*")):
        if f.is_file() and f.name != "train.lock":
            st = f.stat()
            out[str(f.relative_to(p.root))] = (st.st_mtime_ns, st.st_size)
    return out
