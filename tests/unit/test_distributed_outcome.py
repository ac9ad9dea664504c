"""The launcher's exit code from the ranks' files and rank 0's status (torch-free)."""

from __future__ import annotations

import os
import signal
import time

from forge.init.scaffold import init_project
from forge.status import StatusWriter, read_status
from forge.train.distributed import ranks
from forge.train.distributed.outcome import outcome


def _project(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    ranks.clear(proj)
    return proj


def test_a_resumed_run_is_known_by_rank_0s_pid_not_its_start_time(tmp_path):
    """A resume keeps the started_at of the run it continues: the launcher called such a run
    "rank 0 left no final status" and failed it (exit 1) although it was done."""
    proj = _project(tmp_path)
    (ranks.dist_dir(proj) / "rank-0.pid").write_text("4242\n")
    w = StatusWriter(proj.status_file, started_at="2020-01-01T00:00:00Z", run_id="r1", pid=4242)
    w.phase("done")
    assert outcome(proj, 0, [], time.time()) == 0
    assert read_status(proj.status_file).phase == "done"


def test_a_status_of_another_process_is_not_this_launch(tmp_path):
    proj = _project(tmp_path)
    (ranks.dist_dir(proj) / "rank-0.pid").write_text(f"{os.getpid()}\n")
    StatusWriter(proj.status_file, run_id="old", pid=1, started_at="2020-01-01T00:00:00Z").phase("done")
    assert outcome(proj, 0, [], time.time()) == 1  # rank 0 left no final status of its own
    assert "left no final status" in read_status(proj.status_file).error


def test_a_node_without_rank_0_or_its_status_answers_from_torchrun(tmp_path):
    proj = _project(tmp_path)  # no status file here: the project folder is not shared
    assert outcome(proj, 0, [], time.time(), write_status=False) == 0
    assert outcome(proj, 1, [], time.time(), write_status=False) == 1
    assert outcome(proj, 0, [signal.SIGTERM], time.time(), write_status=False) == 143
    assert not proj.status_file.exists()


def test_a_failing_rank_is_named_first(tmp_path):
    proj = _project(tmp_path)
    ranks.write_rank_error(proj, 1, "RuntimeError: boom", "error", "rerun")
    assert outcome(proj, 1, [], time.time()) == 1
    st = read_status(proj.status_file)
    assert st.phase == "failed" and st.error.startswith("rank 1 failed: RuntimeError: boom")
