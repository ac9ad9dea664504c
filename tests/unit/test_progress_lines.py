"""forge.progress_lines: the plain progress line of a verb whose output is not a terminal."""

from __future__ import annotations

import io
import time

from forge.progress_lines import Heartbeat, for_output, interval_seconds, report
from forge.status import Status


def test_a_line_every_interval_with_what_the_verb_knows():
    out = io.StringIO()
    with Heartbeat("train", out, interval=0.05) as beat:
        beat.update_status(
            Status(phase="training", step=45, total_steps=100, loss=0.4523, tokens_per_second=1234.0, eta_seconds=750)
        )
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2, lines
    assert "forge train: training, step 45/100 (45%), loss 0.4523, 1,234 tok/s, ETA 12m 30s" in lines[-1]


def test_a_wing_reports_to_the_running_heartbeat_only():
    report(what="val loss", step=1, total=2)  # none runs: nothing happens
    out = io.StringIO()
    with Heartbeat("baseline", out, interval=0) as beat:  # 0: no lines
        report(what="generation", step=3, total=8, unit="answer")
        assert "generation, answer 3/8 (37%)" in beat.line()
    assert out.getvalue() == ""


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FORGE_PROGRESS_SECONDS", "2.5")
    assert interval_seconds() == 2.5
    monkeypatch.setenv("FORGE_PROGRESS_SECONDS", "soon")
    assert interval_seconds() == 60
    monkeypatch.delenv("FORGE_PROGRESS_SECONDS")
    assert interval_seconds() == 60


def test_a_terminal_gets_no_lines(monkeypatch):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    with for_output("train") as beat:
        beat.update(step=1)
    assert not isinstance(beat, Heartbeat)
