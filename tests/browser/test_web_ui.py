"""The Forge Web UI in a real browser: Debian's Chromium driven by Playwright (from PyPI).

A separate process writes a changing status and history; the page must follow within about two
seconds (step, ETA, the last point of the loss chart). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge.files import atomic_write_json
from forge.status import StatusWriter
from forge.web.readers import format_duration

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webfixtures import (  # noqa: E402
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    finished_project,
    history_row,
    loss_at,
    make_project,
    write_history,
)

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it) to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no `playwright install` needed)")
expect = sync_api.expect

FOLLOW_MS = 2500  # the page may be at most a second or two behind the status file
TOTAL = 200
DEAD_PID = 2**22 + 4321


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def go(url: str, width: int = 1400, height: int = 1000):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.goto(url)
        pages.append(page)
        return page

    yield go
    for p in pages:
        assert p.errors == [], p.errors


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class Writer:
    def __init__(self, project_dir: Path, total: int):
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("writer.py")), str(project_dir), str(total)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ok"

    def send(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def test_page_follows_a_live_run(tmp_path, open_page):
    proj = make_project(tmp_path / "live-run")
    with Server([proj.root]) as srv:
        page = open_page(srv.url)
        expect(page.get_by_test_id("no-run")).to_be_visible()
        expect(page.get_by_test_id("phase")).to_have_text("idle")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=5000)

        writer = Writer(proj.root, TOTAL)
        try:
            expect(page.get_by_test_id("phase")).to_have_text("loading", timeout=FOLLOW_MS)
            lags = []
            for n in (3, 20, 47, 120):
                writer.send(f"step {n}")
                t0 = time.monotonic()
                expect(page.get_by_test_id("step")).to_have_text(f"{n} / {TOTAL}", timeout=FOLLOW_MS)
                expect(page.get_by_test_id("eta")).to_have_text(format_duration((TOTAL - n) * 1.5), timeout=FOLLOW_MS)
                last = page.get_by_test_id("loss-last-point")
                expect(last).to_have_attribute("data-step", str(n), timeout=FOLLOW_MS)
                lags.append(time.monotonic() - t0)
                assert float(last.get_attribute("data-value")) == pytest.approx(loss_at(n))
                lr = page.get_by_test_id("lr-last-point")
                assert float(lr.get_attribute("data-value")) == pytest.approx(history_row(n, TOTAL)["learning_rate"])
                expect(page.get_by_test_id("phase")).to_have_text("training")
                expect(page.get_by_test_id("no-run")).to_be_hidden()
            print("page lag behind the status file (s):", [round(x, 2) for x in lags])
            expect(page.get_by_test_id("eval-loss-last-point")).to_have_attribute("data-step", "120")
            assert page.get_by_test_id("progress").get_attribute("data-percent") == "60.0"
            expect(page.get_by_test_id("tokens-per-second")).to_have_text("1,970")
            shot(page, "web-ui-live")

            writer.send("done")
            expect(page.get_by_test_id("phase")).to_have_text("done", timeout=FOLLOW_MS)
            expect(page.get_by_test_id("eta")).to_have_text("5m 00s")  # started 10:00, completed 10:05
        finally:
            writer.close()


def test_failed_crashed_finished_and_missing_projects(tmp_path, open_page):
    failed = make_project(tmp_path / "failed-run")
    write_history(failed, range(1, 31), 100)
    StatusWriter(failed.status_file, pid=os.getpid()).phase(
        "failed", step=30, total_steps=100, error="CUDA out of memory", error_kind="oom", solution="use a smaller model"
    )
    crashed = make_project(tmp_path / "crashed-run")
    write_history(crashed, range(1, 11), 100)
    atomic_write_json(
        crashed.status_file,
        {"running": True, "phase": "training", "pid": DEAD_PID, "step": 10, "total_steps": 100,
         "last_updated": "2020-01-01T00:00:00Z"},
    )  # fmt: skip
    done = finished_project(tmp_path / "done-run")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    with Server([failed.root, crashed.root, done.root, empty]) as srv:
        page = open_page(srv.url)
        tabs = page.get_by_test_id("project-tab")
        expect(tabs).to_have_count(4)
        expect(tabs.nth(1).get_by_test_id("tab-phase")).to_have_text("crashed")

        expect(page.get_by_test_id("phase")).to_have_text("failed")
        expect(page.get_by_test_id("error")).to_have_text("CUDA out of memory")
        expect(page.get_by_test_id("error-kind")).to_have_text("oom")
        expect(page.get_by_test_id("solution")).to_have_text("use a smaller model")
        expect(page.get_by_test_id("loss-last-point")).to_have_attribute("data-step", "30")
        shot(page, "web-ui-failed")

        tabs.nth(1).click()
        expect(page.get_by_test_id("phase")).to_have_text("crashed")
        expect(page.get_by_test_id("alert-title")).to_contain_text("is gone")
        # the server's fallback (forge.status.RESUME_FIX), naming the folder: the page has no command of its own
        expect(page.get_by_test_id("solution")).to_contain_text(f"forge train {crashed.root.resolve()} --resume")
        expect(page.get_by_test_id("loss-last-point")).to_have_attribute("data-step", "10")

        tabs.nth(2).click()
        expect(page.get_by_test_id("phase")).to_have_text("done")
        expect(page.get_by_test_id("gate")).to_have_text("gate passed")
        comparison = page.get_by_test_id("comparison")
        expect(comparison.locator("tr[data-metric=val_loss]")).to_contain_text("2.91")
        # the four scores, base / fine-tuned / change (it once listed schema_version and examples)
        expect(comparison.locator("tr[data-metric]")).to_have_count(4)
        for metric, label, base, tuned in (
            ("val_loss", "val loss", "2.91", "0.71"),
            ("perplexity", "perplexity", "18.36", "2.03"),
            ("token_f1", "token F1", "0.14", "0.89"),
            ("exact_match", "exact match", "0", "0.5"),
        ):
            row = comparison.locator(f"tr[data-metric={metric}]")
            expect(row.locator("td").nth(0)).to_have_text(label)
            expect(row.locator("td").nth(1)).to_have_text(base)
            expect(row.locator("td").nth(2)).to_have_text(tuned)
        expect(comparison).not_to_contain_text("schema_version")
        expect(page.get_by_test_id("artifact")).to_have_count(3)
        expect(page.get_by_test_id("artifacts-total")).to_contain_text("8.1 MB")
        expect(page.get_by_test_id("checklist-pre").get_by_test_id("check-item").first).to_be_visible()
        expect(page.get_by_test_id("alert")).to_be_hidden()
        expect(page.get_by_test_id("loss-last-point")).to_have_attribute("data-step", "300")
        shot(page, "web-ui-done")

        tabs.nth(3).click()
        expect(page.get_by_test_id("no-run")).to_be_visible()
        expect(page.get_by_test_id("gate")).to_have_text("not evaluated")
        # what to run next comes from the server (metrics gate_note), naming the folder
        expect(page.get_by_test_id("gate-detail")).to_have_text(
            f"no baseline yet: run `forge baseline {empty.resolve()}`, then `forge evaluate {empty.resolve()}` after training"
        )
        expect(page.get_by_test_id("loss-chart")).to_contain_text("no training history yet")
        expect(page.get_by_test_id("checklist-pre")).to_contain_text("train split exists")
        shot(page, "web-ui-no-run")


def test_ten_thousand_steps_stay_fast(tmp_path, open_page):
    proj = make_project(tmp_path / "long-run")
    total = 10_000
    with open(proj.history_file, "w", encoding="utf-8") as f:
        for s in range(1, total + 1):
            f.write(json.dumps(history_row(s, total)) + "\n")
            if s % 250 == 0:
                f.write(json.dumps({"step": s, "eval_loss": loss_at(s) + 0.05}) + "\n")
    StatusWriter(proj.status_file, pid=os.getpid()).phase("training", step=total, total_steps=total + 500)
    with Server([proj.root]) as srv:
        t0 = time.monotonic()
        page = open_page(srv.url)
        expect(page.get_by_test_id("loss-last-point")).to_have_attribute("data-step", str(total), timeout=15000)
        print(f"10,000-step page drawn in {time.monotonic() - t0:.2f}s")
        drawn = int(page.get_by_test_id("train-loss-line").get_attribute("data-points"))
        assert 100 < drawn <= 801
        with open(proj.history_file, "a") as f:
            f.write(json.dumps(history_row(total + 1, total)) + "\n")
        StatusWriter(proj.status_file, pid=os.getpid()).phase("training", step=total + 1, total_steps=total + 500)
        expect(page.get_by_test_id("loss-last-point")).to_have_attribute("data-step", str(total + 1), timeout=FOLLOW_MS)
        shot(page, "web-ui-long")


def test_a_gate_of_a_replaced_adapter_reads_stale(tmp_path, open_page):
    # evaluation.json records the adapter it scored; a retrained adapter makes its verdict stale
    from forge.records.base import read_record, write_record
    from forge.records.evaluate import EvaluationRecord

    proj = finished_project(tmp_path / "retrained")
    record = read_record(proj.evaluation_file, EvaluationRecord)
    record.adapter_fingerprint = {"sha256": "0" * 64}  # not the adapter saved now
    write_record(proj.evaluation_file, record)
    with Server([proj.root]) as srv:
        page = open_page(srv.url)
        gate = page.get_by_test_id("gate")
        expect(gate).to_have_text("gate passed (stale: another adapter)")
        expect(gate).to_have_attribute("data-stale", "true")


def test_training_stats_of_an_older_run_are_marked(tmp_path, open_page):
    # QA: a new run that was refused left the last run's training-stats.json on the page, unmarked
    proj = finished_project(tmp_path / "refused-after-done")
    stats = json.loads(proj.training_stats_file.read_text())
    stats.update(run_id="run-2", started_at="2025-01-03T10:00:00Z", completed_at="2025-01-03T10:06:00Z")
    atomic_write_json(proj.training_stats_file, stats)

    def refused(run_id: str) -> None:
        w = StatusWriter(proj.status_file, run_id=run_id, pid=os.getpid(), started_at="2025-01-04T09:00:00Z")
        w.phase("failed", error="val.jsonl:1: not JSON", error_kind="data", previous_run={"run_id": "run-2"})

    with Server([proj.root]) as srv:
        page = open_page(srv.url)
        badge, note = page.get_by_test_id("stats-stale"), page.get_by_test_id("stats-note")
        expect(badge).to_have_attribute("data-stale", "false")
        expect(badge).to_have_text("current run")
        expect(note).to_be_hidden()
        refused("run-3")  # done -> failed: a new run, refused before it wrote its stats
        expect(badge).to_have_attribute("data-stale", "true", timeout=FOLLOW_MS)
        expect(badge).to_have_text("stale: older run")
        expect(note).to_be_visible()
        expect(note).to_contain_text("stats of run run-2")
        expect(note).to_contain_text("run-3")
        refused("run-4")  # the phase stays "failed": the new run id alone must refresh the note
        expect(note).to_contain_text("run-4", timeout=FOLLOW_MS)
        shot(page, "web-ui-stale-stats")


def test_outputs_checklist_marks_quality_checks_of_an_older_run_stale(tmp_path, open_page):
    # the outputs checklist judged the loss on the last run's stats after a new run was refused
    proj = finished_project(tmp_path / "verify-after-refused")
    stats = json.loads(proj.training_stats_file.read_text())
    stats.update(run_id="run-2", started_at="2025-01-03T10:00:00Z", completed_at="2025-01-03T10:06:00Z")
    atomic_write_json(proj.training_stats_file, stats)
    with Server([proj.root]) as srv:
        page = open_page(srv.url)
        outputs = page.locator("#out-list")
        loss = outputs.locator('[data-testid="check-item"]', has_text="final loss < 0.5")
        expect(loss).to_have_attribute("data-status", "ok")
        expect(outputs.get_by_test_id("check-stale")).to_have_count(0)
        w = StatusWriter(proj.status_file, run_id="run-3", pid=os.getpid(), started_at="2025-01-04T09:00:00Z")
        w.phase("failed", error="val.jsonl:1: not JSON", error_kind="data", previous_run={"run_id": "run-2"})
        expect(loss).to_have_attribute("data-stale", "true", timeout=FOLLOW_MS)
        expect(loss).to_have_attribute("data-status", "fail")
        expect(loss.get_by_test_id("check-stale")).to_have_text("stale: older run")
        expect(loss).to_contain_text("stats of run run-2")
        expect(loss).to_contain_text("forge train")
        expect(outputs.get_by_test_id("check-stale")).to_have_count(2)  # and "loss decreased"
        expect(page.locator("#out-ready")).to_have_text("not ready")
        shot(page, "web-ui-stale-checklist")
