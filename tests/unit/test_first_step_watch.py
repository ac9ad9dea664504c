"""FirstStepWatch: the status and the log say that a long first step (a compile) is not a hang."""

from __future__ import annotations

import json
import logging
import time

from forge.status import StatusWriter
from forge.train.first_step import FirstStepWatch


def _status(tmp_path, phase="training", backend="unsloth"):
    w = StatusWriter(tmp_path / "training-status.json", run_id="r1", backend=backend)
    w.phase(phase, step=0, total_steps=10)
    return w


def _on_disk(tmp_path):
    return json.loads((tmp_path / "training-status.json").read_text())


def _until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_a_long_first_step_is_said_and_then_taken_back(tmp_path, caplog):
    w = _status(tmp_path)
    watch = FirstStepWatch(w, logging.getLogger("forge.test"), after=0.05, every=0.05)
    with caplog.at_level(logging.INFO, logger="forge.test"):
        watch.start()
        assert _until(lambda: "no training step has finished" in (_on_disk(tmp_path).get("message") or ""))
        # the log line follows the status write in the watch's thread: wait for it, do not race it
        assert _until(lambda: any("no training step has finished" in r.getMessage() for r in caplog.records))
    data = _on_disk(tmp_path)
    assert "compile" in data["message"] and "not a hang" in data["message"]
    assert data["extra"]["first_step_wait_s"] >= 0.05
    first = data["extra"]["first_step_wait_s"]
    assert _until(lambda: _on_disk(tmp_path)["extra"]["first_step_wait_s"] > first)  # it keeps updating
    watch.done()
    assert _on_disk(tmp_path)["message"] is None
    time.sleep(0.15)
    assert _on_disk(tmp_path)["message"] is None  # nothing after done()


def test_a_quick_first_step_writes_nothing(tmp_path):
    w = _status(tmp_path)
    watch = FirstStepWatch(w, logging.getLogger("forge.test"), after=30, every=30)
    watch.start()
    watch.done()
    watch._thread.join(timeout=5)  # done() wakes it at once: it leaves without a write
    assert not watch._thread.is_alive()
    assert _on_disk(tmp_path).get("message") is None
    assert "first_step_wait_s" not in _on_disk(tmp_path).get("extra", {})


def test_a_failed_run_is_never_written_over(tmp_path):
    w = _status(tmp_path)
    w.phase("failed", error="CUDA out of memory", message="training failed: see the log")
    watch = FirstStepWatch(w, logging.getLogger("forge.test"), after=0.05, every=0.05)
    watch.start()
    watch._thread.join(timeout=5)  # it woke, saw a final phase and left
    assert not watch._thread.is_alive()
    assert _on_disk(tmp_path)["message"] == "training failed: see the log"
    watch.done()  # the message is not the watch's: kept
    assert _on_disk(tmp_path)["message"] == "training failed: see the log"


def test_someone_elses_message_is_not_cleared(tmp_path):
    w = _status(tmp_path)
    watch = FirstStepWatch(w, logging.getLogger("forge.test"), after=0.02, every=0.02)
    watch.start()
    assert _until(lambda: bool(_on_disk(tmp_path).get("message")))
    watch.done()
    w.update(message="out of memory: micro-batch halved")  # the OOM retry's line
    watch.done()
    assert _on_disk(tmp_path)["message"] == "out of memory: micro-batch halved"


def test_the_reason_follows_the_backend():
    from forge.train.first_step import wait_message

    assert "Unsloth compiles" in wait_message(75, "unsloth")
    hf = wait_message(75, "hf")
    assert "Unsloth" not in hf and "CPU" in hf and "75 s" in hf
