"""bench/arm.py's Meter: which optimizer steps the throughput is measured over (pure arithmetic)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.arm import Meter  # noqa: E402


def _marks(meter, n, tokens_per_step=1000, dt=0.5):
    meter.marks = [(i * dt, i + 1, [tokens_per_step * (i + 1)] * 3) for i in range(n)]


def test_steady_state_after_the_warmup_steps():
    m = Meter(seconds=10, warmup_steps=3)
    _marks(m, 23)
    s = m.summary()
    assert s["steps_measured"] == 19 and s["warmup_steps_used"] == 3
    assert s["real_tokens_per_s"] == 2000 and s["stopped_by_budget"] is False


def test_an_arm_stopped_by_its_budget_still_reports_and_says_so():
    m = Meter(seconds=10, warmup_steps=3, budget=5)
    m.stopped_by_budget = True
    _marks(m, 4)  # fewer steps than warm-up + 2: the second half of what ran, flagged
    s = m.summary()
    assert s["stopped_by_budget"] is True and s["warmup_steps_used"] == 2 and s["steps_measured"] == 1


def test_too_few_steps_without_a_budget_measures_nothing():
    m = Meter(seconds=10, warmup_steps=3)
    _marks(m, 4)
    assert m.summary()["steps_measured"] == 0


def test_an_arm_result_is_taken_only_from_this_run_of_the_arm(tmp_path):
    import json
    import os
    import time

    from bench.run import _result_since

    rfile = tmp_path / "arm-x-chat-a.json"
    assert _result_since(rfile, time.time()) is None  # never written
    rfile.write_text(json.dumps({"arm": "a", "ok": True}))
    os.utime(rfile, (time.time() - 100, time.time() - 100))
    assert _result_since(rfile, time.time() - 10) is None  # an earlier run's file
    assert _result_since(rfile, time.time() - 200) == {"arm": "a", "ok": True}
    rfile.write_text("{torn")
    assert _result_since(rfile, time.time() - 200) is None


def test_an_arm_stopped_by_its_limit_says_how_far_it_got(tmp_path):
    """bench.run stops an arm at --timeout / --timeouts without a result; its progress marks say
    whether it had loaded, or how many steps it finished (Gemma 3's arm (a), tenth session)."""
    from bench.arm import how_far, mark

    out = tmp_path / "arm-gemma-4b-chat-a.json"
    assert how_far(out) == ""
    mark(str(out), "imported")
    mark(str(out), "loaded")
    assert how_far(out).startswith("; last: loaded at ") and how_far(out).endswith("(no step finished)")
    mark(str(out), "step 3")
    assert how_far(out).startswith("; last: step 3 at ") and "no step" not in how_far(out)


def test_the_summary_table_renders_a_calls_saved_result():
    """bench.summary.markdown, fed a call's saved summary, writes the table that call wrote (the
    tenth session's 4B-it at 8 GB: (a) stopped by its limit, (c) measured)."""
    import json
    from pathlib import Path

    from bench.summary import markdown

    raw = Path(__file__).resolve().parents[2] / "bench" / "results"
    s = json.loads((raw / "2026-12-07-h100-s10-gemma-4b-8GB-arms.json").read_text())
    md = markdown(s)
    assert md.strip() == (raw / "2026-12-07-h100-s10-gemma-4b-8GB-arms.md").read_text().strip()
    assert "| (a) original | failed: timed out after 180 s |" in md and "| 15,996 |" in md
