import json
import os

from forge.files import atomic_write_json
from forge.status import Status, StatusWriter, read_status


def test_writer_keeps_original_keys_and_types(tmp_path):
    p = tmp_path / ".factory" / "training-status.json"
    w = StatusWriter(p, run_id="r1", started_at="2025-01-03T10:00:00Z", pid=os.getpid())
    w.phase("training", step=45, total_steps=100, epoch=2, total_epochs=3, loss=0.4523)
    data = json.loads(p.read_text())
    for key, typ in {
        "running": bool,
        "step": int,
        "total_steps": int,
        "loss": float,
        "started_at": str,
        "last_updated": str,
    }.items():
        assert isinstance(data[key], typ), key
    for key in ("learning_rate", "eta_seconds", "checkpoint_at", "error"):
        assert key in data
    assert data["phase"] == "training" and data["running"] is True
    w.phase("done")
    st = read_status(p)
    assert st.running is False and st.completed_at and st.started_at == "2025-01-03T10:00:00Z"
    assert [f.name for f in p.parent.iterdir()] == ["training-status.json"]


def test_reader_tolerates_missing_and_garbage(tmp_path):
    assert read_status(tmp_path / "none.json").phase == "idle"
    f = tmp_path / "s.json"
    f.write_text("{half")
    assert read_status(f).running is False
    atomic_write_json(f, {"running": True, "step": 3, "unknown_future_key": 1})
    assert read_status(f).step == 3


def test_crashed_when_pid_dead_and_stale(tmp_path):
    st = Status(running=True, pid=2**22 + 12345, last_updated="2020-01-01T00:00:00Z", phase="training")
    assert st.is_crashed() and st.effective_phase() == "crashed"
    st2 = Status(running=True, pid=os.getpid(), last_updated="2020-01-01T00:00:00Z", phase="training")
    assert not st2.is_crashed()


def test_atomic_write_keeps_mode_and_new_files_are_readable(tmp_path):
    from forge.files import atomic_write_text

    new = tmp_path / "new.json"
    atomic_write_text(new, "{}")
    assert new.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: other tools read these files
    new.chmod(0o640)
    atomic_write_text(new, "{}")
    assert new.stat().st_mode & 0o777 == 0o640


def test_stale_temp_files_of_a_killed_writer_are_cleaned(tmp_path):
    from forge.files import atomic_write_json, clean_stale_temp_files

    atomic_write_json(tmp_path / "training-stats.json", {"a": 1})
    torn = tmp_path / ".training-stats.json.8u0_ncp3.tmp"
    torn.write_text('{"a":')  # SIGKILL between mkstemp and os.replace
    assert clean_stale_temp_files(tmp_path) == [torn]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training-stats.json"]
