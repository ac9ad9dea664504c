"""A damaged `.factory/training-status.json` (wrong types, cut short, not an object, a stale
running file whose pid now names another process): the readers never raise, say what is wrong
and how to fix it, and one damaged project never takes the others down (no torch)."""

from __future__ import annotations

import json
import os

import pytest

from forge.cli import main
from forge.clock import parse_time
from forge.files import atomic_write_json
from forge.lock import ProjectLock
from forge.processes import pid_alive
from forge.project import Project
from forge.status import CHECKS, STATUS_FIX, Status, StatusWriter, read_status, read_status_checked
from forge.web.readers import status_view

STALE = "2020-01-01T00:00:00Z"
DEAD_PID = 2**22 + 4321

# what QA found crashing, with the default each bad value must be read as
BAD_VALUES = [
    ("pid", "123", None),
    ("pid", 99999999999999999999, None),
    ("pid", -1, None),
    ("pid", True, None),
    ("extra", "ab", {}),
    ("extra", [1, 2], {}),
    ("step", "3", 0),
    ("step", True, 0),
    ("step", 2.5, 0),
    ("total_steps", "10", 0),
    ("total_steps", -4, 0),
    ("last_updated", 5, None),
    ("last_updated", "yesterday", None),
    ("running", "yes", False),
    ("phase", "flying", "idle"),
    ("phase", 3, "idle"),
    ("epoch", None, 0),
    ("loss", "0.5", None),
    ("error", {"a": 1}, None),
    ("schema_version", "1", 1),
]
# odd JSON values tried on every key of the contract
ODD = ["ab", "3", "", 5, -1, 0, 2**70, 1.5, float("nan"), True, False, None, [], [1, 2], {}, {"k": [1]}]


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project.at(tmp_path / "p")
    (p.root / ".factory").mkdir(parents=True)
    return p


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    from forge.commands.console import console

    monkeypatch.setattr(console, "_width", 200)


def _write(proj: Project, doc) -> None:
    proj.status_file.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")


# --------------------------------------------------------------------------- typed reader


@pytest.mark.parametrize("key, value, default", BAD_VALUES)
def test_a_wrongly_typed_value_is_dropped_and_named(proj, key, value, default):
    _write(proj, {"running": False, "phase": "done", "step": 7, "total_steps": 10, key: value})
    st, problems = read_status_checked(proj.status_file)
    assert getattr(st, key) == default
    assert [p.key for p in problems] == [key]
    text = problems[0].text
    assert str(proj.status_file) in text and f"`{key}`" in text and "expected" in text
    assert json.dumps(value)[:20] in text  # what it held
    assert read_status(proj.status_file) == st  # the plain reader of existing callers: no raise
    if key not in ("step", "total_steps"):
        assert (st.step, st.total_steps) == (7, 10)  # the sound keys are kept


@pytest.mark.parametrize("key", sorted(CHECKS))
def test_no_json_value_in_any_key_makes_a_reader_raise(proj, key):
    for value in ODD:
        _write(proj, {"running": True, "pid": 1, "last_updated": STALE, "step": 1, "total_steps": 2, key: value})
        st, problems = read_status_checked(proj.status_file)
        view = status_view(proj)
        json.dumps(view, allow_nan=False)  # the web answer: plain JSON
        assert isinstance(view["problems"], list) and len(view["problems"]) == len(problems)
        assert isinstance(st.step, int) and not isinstance(st.step, bool)


def test_the_writers_own_status_has_no_problems(proj):
    w = StatusWriter(proj.status_file, run_id="r1", pid=os.getpid(), started_at="2025-01-03T10:00:00Z")
    w.update(oom_retries=1)  # lands in extra
    w.phase("training", step=3, total_steps=10, epoch=0.5, total_epochs=3, loss=float("nan"), learning_rate=2e-4)
    w.update(checkpoint_at="2025-01-03T10:30:00Z", eta_seconds=12.5, tokens_per_second=None)
    w.phase("failed", error="boom", error_kind="internal", solution="retry")
    st, problems = read_status_checked(proj.status_file)
    assert problems == [] and st.extra == {"oom_retries": 1} and st.phase == "failed"


def test_pid_alive_takes_any_value_without_raising():
    for value in ("123", True, -1, 0, 2**70, 1.5, None, [], {}):
        assert pid_alive(value) is False  # type: ignore[arg-type]
    assert pid_alive(os.getpid()) is True


def test_parse_time_takes_any_value_and_naive_times_are_utc():
    for value in (5, [], {}, "yesterday", None, ""):
        assert parse_time(value) is None  # type: ignore[arg-type]
    assert parse_time("2025-01-03T10:00:00") == parse_time("2025-01-03T10:00:00Z")


# --------------------------------------------------------------------------- unreadable files


UNREADABLE = {
    "cut short": '{"running": true, "step": 3',
    "an array": "[1,2]",
    "a string": '"running"',
    "a number": "12",
    "empty": "",
    "not UTF-8": b'{"step": "\xff\xfe"}',
    "nested deeper than any parser": "[" * 200_000,
    "too large": '{"extra": {"pad": "' + "x" * (2 << 20) + '"}}',
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unreadable_file_is_shown_as_unreadable_with_the_fix(proj, name, capsys):
    doc = UNREADABLE[name]
    if isinstance(doc, bytes):
        proj.status_file.write_bytes(doc)
    else:
        _write(proj, doc)
    st, problems = read_status_checked(proj.status_file)
    assert st == Status() and len(problems) == 1 and problems[0].unreadable
    view = status_view(proj)
    assert view["effective_phase"] == "unreadable" and view["final"] is True and view["exists"] is True
    assert view["problems"][0]["fix"] == STATUS_FIX

    assert main(["status", str(proj.root)]) == 1
    out = capsys.readouterr().out
    assert "unreadable" in out and "forge train" in out and "delete the file" in out
    assert "training-status.json" in out and "no run yet" not in out
    assert main(["status", str(proj.root), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["effective_phase"] == "unreadable" and data["problems"][0]["key"] is None


def test_forge_status_shows_a_typed_problem_and_exits_1(proj, capsys):
    _write(proj, {"running": True, "pid": "123"})
    assert main(["status", str(proj.root)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert '`pid` held "123" (a string)' in captured.out and "forge train" in captured.out
    assert main(["status", str(proj.root), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["pid"] is None and data["problems"][0]["key"] == "pid"


def test_a_sound_file_has_no_problems_and_exit_0(proj, capsys):
    StatusWriter(proj.status_file, pid=os.getpid()).phase("done", step=10, total_steps=10)
    assert main(["status", str(proj.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []


# --------------------------------------------------------------------------- stale running file


def _stale_running(proj: Project, pid: int) -> None:
    atomic_write_json(
        proj.status_file, {"running": True, "phase": "training", "pid": pid, "last_updated": STALE, "step": 3}
    )


def test_a_live_pid_without_the_lock_is_a_crash(proj, capsys):
    _stale_running(proj, 1)  # pid 1 exists (init), but it is not forge train
    view = status_view(proj)
    assert view["effective_phase"] == "crashed" and view["final"] is True
    assert main(["status", str(proj.root)]) == 1
    assert "no forge process holds the project lock" in capsys.readouterr().out
    from forge.commands import status as status_cmd

    # --watch --json used to follow this file forever
    assert status_cmd.run(proj.root, watch=True, json_out=True, interval=0.01, timeout=5) == 1
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_a_run_that_holds_the_lock_is_never_crashed(proj):
    _stale_running(proj, os.getpid())  # no write for minutes: a long save, a slow first step
    lock = ProjectLock(proj.lock_file, "train").acquire()
    try:
        view = status_view(proj)
        assert view["effective_phase"] == "training" and view["crashed"] is False
    finally:
        lock.release()
    assert status_view(proj)["effective_phase"] == "crashed"  # released without a final status


def test_the_lock_held_by_another_verb_does_not_revive_a_stale_run(proj):
    proj.lock_file.write_text("1 export\n")  # pid 1 lives; it holds the lock, not the status's pid
    _stale_running(proj, os.getpid())
    assert status_view(proj)["effective_phase"] == "crashed"


def test_a_fresh_running_file_is_live_without_asking_the_lock(proj):
    StatusWriter(proj.status_file, pid=os.getpid()).phase("training", step=1, total_steps=5)
    assert not proj.lock_file.exists()
    assert status_view(proj)["effective_phase"] == "training"


def test_a_dead_pid_is_still_a_crash(proj):
    _stale_running(proj, DEAD_PID)
    view = status_view(proj)
    assert view["effective_phase"] == "crashed" and view["pid_alive"] is False


def test_a_lock_file_that_is_a_fifo_does_not_hang_the_reader(proj):
    os.mkfifo(proj.lock_file)
    _stale_running(proj, os.getpid())
    assert status_view(proj)["effective_phase"] == "crashed"


# --------------------------------------------------------------------------- the web UI


def _web(dirs, **kw):
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from forge.plan.hardware import HardwareInfo
    from forge.web.app import create_app

    hw = HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible (test)")
    return TestClient(create_app(dirs, hardware=hw, **kw), base_url="http://127.0.0.1:7860")


def _two_projects(tmp_path):
    good, bad = Project.at(tmp_path / "good"), Project.at(tmp_path / "bad")
    for p in (good, bad):
        (p.root / ".factory").mkdir(parents=True)
    StatusWriter(good.status_file, pid=os.getpid()).phase("training", step=2, total_steps=4)
    return good, bad


@pytest.mark.parametrize("doc", ['{"running": true, "pid": "123"}', '{"step": "3", "total_steps": "10"}', "[1,2]"])
def test_a_damaged_project_keeps_the_others_on_the_page(tmp_path, doc):
    good, bad = _two_projects(tmp_path)
    bad.status_file.write_text(doc)
    c = _web([good.root, bad.root], poll_seconds=0.05)
    listed = c.get("/api/projects")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()] == ["good", "bad"]
    r = c.get("/api/projects/bad/status")
    assert r.status_code == 200 and r.json()["problems"]
    assert c.get("/api/projects/good/status").json()["effective_phase"] == "training"
    assert _projects_in_events(c) == {"good", "bad"}


def _projects_in_events(c) -> set[str]:
    """The projects the event stream sent a snapshot of within 0.3 s."""
    seen = set()
    with c.stream("GET", "/api/events", params={"max_seconds": 0.3}) as s:
        for line in s.iter_lines():
            if line.startswith("data: "):
                seen.add(json.loads(line[6:])["project"])
    return seen


def test_a_view_that_fails_anyway_reads_as_unreadable_for_that_project_only(tmp_path, monkeypatch):
    import forge.web.app as web_app

    good, bad = _two_projects(tmp_path)
    real = web_app.status_view

    def failing(project, *a, **kw):
        if project.root == bad.root:
            raise RuntimeError("a bug")
        return real(project, *a, **kw)

    monkeypatch.setattr(web_app, "status_view", failing)
    c = _web([good.root, bad.root], poll_seconds=0.05)
    assert [p["phase"] for p in c.get("/api/projects").json()] == ["training", "unreadable"]
    st = c.get("/api/projects/bad/status").json()
    assert st["effective_phase"] == "unreadable" and "a bug" in st["problems"][0]["message"]
    assert _projects_in_events(c) == {"good", "bad"}


def test_verify_reads_a_damaged_status_without_raising(tmp_path):
    from test_verify import _artifacts, _items

    from forge.check.outputs import run_verify

    proj = _artifacts(tmp_path / "p")
    _write(proj, {"extra": "ab", "error_kind": "oom", "step": "3"})  # dict("ab") raised ValueError
    assert _items(run_verify(proj))["no CUDA out-of-memory"].status == "fail"  # the sound key still counts
