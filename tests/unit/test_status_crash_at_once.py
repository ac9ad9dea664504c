"""A running status whose writer's pid is dead, read in the writer's own process space, is a crash
at once: `forge status` and the page no longer say 'training' for 120 s after a kill -9."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from forge.init.scaffold import init_project
from forge.processes import process_space
from forge.project import Project
from forge.status import Status, StatusWriter, read_status


@pytest.fixture(scope="module")
def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: its pid names no process now
    return p.pid


def _running(pid, space, age_s=1.0) -> Status:
    when = (datetime.now(timezone.utc) - timedelta(seconds=age_s)).isoformat()
    return Status(running=True, phase="training", pid=pid, process_space=space, last_updated=when, run_id="r")


def test_a_dead_writer_in_our_space_is_a_crash_even_while_the_file_is_fresh(dead_pid):
    st = _running(dead_pid, process_space())
    assert st.is_crashed()
    assert st.is_crashed(lock_holder=lambda: None)
    assert st.effective_phase() == "crashed"


def test_a_live_writer_is_not_a_crash():
    import os

    assert not _running(os.getpid(), process_space()).is_crashed()


@pytest.mark.parametrize("space", [None, "", "another-host pid:[4026531836]"])
def test_another_space_or_an_older_writer_waits_for_the_file_to_go_stale(dead_pid, space):
    # a container's pids mean nothing to the host: only the stale file tells
    assert not _running(dead_pid, space, age_s=1).is_crashed()
    assert _running(dead_pid, space, age_s=600).is_crashed()


def test_the_writer_records_its_space_with_its_pid(tmp_path):
    import os

    w = StatusWriter(tmp_path / "s.json", running=True, phase="training", pid=os.getpid())
    w.update(step=1)
    on_disk = json.loads((tmp_path / "s.json").read_text())
    assert on_disk["process_space"] == process_space()
    assert read_status(tmp_path / "s.json").process_space == process_space()
    # without a pid there is nothing to judge, and nothing is recorded
    StatusWriter(tmp_path / "t.json", running=False).update(step=0)
    assert json.loads((tmp_path / "t.json").read_text())["process_space"] is None


def test_the_readers_view_says_crashed_at_once(tmp_path, dead_pid):
    from forge.check.staleness import run_status

    project: Project = init_project(tmp_path / "p")[0]
    project.status_file.parent.mkdir(parents=True, exist_ok=True)
    project.status_file.write_text(json.dumps(_running(dead_pid, process_space()).to_dict()))
    view = run_status(project)
    assert view["crashed"] is True and view["effective_phase"] == "crashed"
