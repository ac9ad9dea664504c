"""The resolver's output-path check writes nothing: check and the web UI are readers (a probe
folder made and removed in outputs/ changed the project under test_the_app_never_writes)."""

from __future__ import annotations

import os

from forge.plan.environment import writable_problem


def test_a_writable_folder_passes_and_nothing_changes(tmp_path):
    folder = tmp_path / "outputs"
    folder.mkdir()
    os.utime(folder, (1_000_000, 1_000_000))
    assert writable_problem(folder / "run") is None
    assert folder.stat().st_mtime == 1_000_000 and list(folder.iterdir()) == []


def test_what_cannot_hold_a_run_is_named(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    assert "is not a folder" in writable_problem(f)
    assert "is a file, not a folder" in writable_problem(f / "below")
    assert "pseudo-filesystem" in writable_problem(__import__("pathlib").Path("/proc/forge-x"))
