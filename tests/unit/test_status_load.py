"""The status file under load: 4 reader processes read it as fast as they can while one writer
(forge.status.StatusWriter, the same code a run uses) makes 5,000 updates. Every read must parse,
`step` must never go backwards for any reader, and no temporary file may be left behind."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

from forge.status import StatusWriter

UPDATES = 5000
READERS = 4


def _reader(path: str, stop, out) -> None:
    reads = bad = backwards = missing = 0
    last = -1
    while not stop.is_set():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            missing += 1
            continue
        reads += 1
        try:
            data = json.loads(text)
            step = int(data["step"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if step < last:
            backwards += 1
        last = step
    out.put({"reads": reads, "bad": bad, "backwards": backwards, "missing": missing, "last": last})


def test_status_under_load(tmp_path: Path):
    path = tmp_path / ".factory" / "training-status.json"
    writer = StatusWriter(path, running=True, phase="training", total_steps=UPDATES, run_id="load", pid=os.getpid())
    writer.update(step=0)
    ctx = mp.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_reader, args=(str(path), stop, out)) for _ in range(READERS)]
    for p in procs:
        p.start()
    t0 = time.time()
    for step in range(1, UPDATES + 1):
        writer.update(step=step, loss=1.0 / step, learning_rate=2e-4, eta_seconds=UPDATES - step)
    writer.phase("done", step=UPDATES)
    elapsed = time.time() - t0
    stop.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    reads = sum(r["reads"] for r in results)
    print(
        f"\nstatus under load: {UPDATES} updates in {elapsed:.1f}s, {READERS} readers made {reads} reads "
        f"({', '.join(str(r['reads']) for r in results)}): "
        f"{sum(r['bad'] for r in results)} unreadable, {sum(r['backwards'] for r in results)} backwards"
    )
    assert all(r["bad"] == 0 for r in results), results
    assert all(r["missing"] == 0 for r in results), results
    assert all(r["backwards"] == 0 for r in results), results
    assert all(r["reads"] > 0 for r in results), results
    assert json.loads(path.read_text())["step"] == UPDATES
    assert [p.name for p in path.parent.iterdir()] == [path.name], "temporary files left behind"
