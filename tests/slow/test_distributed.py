"""Data-parallel `forge train --nproc N` on the CPU (gloo, torchrun), builtin:tiny-llama.

- 2 processes end at the same losses as 1 process with the same global batch (per-device 4 x 1
  on one process; 2 x 1 x 2 processes), within rel 1e-3 per step: the split changes only the order
  of float additions (gradients are averaged across ranks by DDP, the loss is normalised by the
  trained tokens of the whole global batch);
- one status writer: the status carries rank 0's pid, the history one row per step, the log no
  line of rank 1;
- SIGTERM to the launcher stops both ranks at the same step with a complete checkpoint, and that
  checkpoint resumes on one process;
- a failing rank fails the run with that rank's error in the status, and no rank is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import forge_here

from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

TOL = 1e-3
SETTINGS = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=32",
    "dataset.chat_template=llama-3",
    "dataset.val_path=null",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "training.optim=adamw_torch",
    "training.save_steps=2",
]


def make_project(root: Path, n: int = 32) -> Path:
    proj, _ = init_project(root)
    rows = [
        {"conversations": [{"from": "human", "value": f"question {i}?"}, {"from": "gpt", "value": f"answer {i % 5}."}]}
        for i in range(n)
    ]
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return proj.root


def cmd(root: Path, *extra: str, sets: tuple[str, ...] = ()) -> list[str]:
    out = [sys.executable, "-m", "forge", "train", str(root), *extra]
    for s in (*SETTINGS, *sets):
        out += ["--set", s]
    return out


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def run(args: list[str], timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=ENV)


def run_here(args: list[str]) -> subprocess.CompletedProcess:
    """A one-process `cmd(...)` run in this process (tests.conftest.forge_here): no launcher, no ranks."""
    assert args[:3] == [sys.executable, "-m", "forge"] and "--nproc" not in args, args
    return forge_here(*args[3:], env={"TOKENIZERS_PARALLELISM": "false"})


def losses(root: Path) -> dict[int, float]:
    rows = [json.loads(x) for x in (root / "metrics" / "training-history.jsonl").read_text().splitlines() if x]
    steps = [r["step"] for r in rows if r["loss"] is not None]
    assert len(steps) == len(set(steps)), f"more than one history writer: {steps}"
    return {r["step"]: r["loss"] for r in rows if r["loss"] is not None}


def status(root: Path) -> dict:
    return json.loads((root / ".factory" / "training-status.json").read_text())


def rank_pids(root: Path) -> dict[int, int]:
    d = root / ".factory" / "dist"
    return {int(p.stem.split("-")[1]): int(p.read_text()) for p in d.glob("rank-*.pid")}


def assert_none_left(root: Path) -> None:
    for r, pid in rank_pids(root).items():
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            assert stat == "Z", f"rank {r} (pid {pid}) left behind"
        except (ProcessLookupError, FileNotFoundError):
            pass


def sigterm_once_training(root, target, watch, at_step: int = 2, timeout: float = 300) -> None:
    """SIGTERM to `target` once the status shows training at `at_step` (while every `watch` runs)."""
    deadline = time.time() + timeout
    while time.time() < deadline and all(p.poll() is None for p in watch):
        try:
            st = status(root)
        except (OSError, ValueError):
            st = {}
        if st.get("phase") == "training" and st.get("step", 0) >= at_step:
            target.send_signal(signal.SIGTERM)
            return
        time.sleep(0.05)


def assert_both_ranks_checkpointed(root, st: dict) -> int:
    """The step the run stopped at has one complete checkpoint holding both ranks' RNG states."""
    stopped = st["step"]
    ckpt = root / "outputs" / f"checkpoint-{stopped}"
    assert (ckpt / "forge-complete.json").is_file(), sorted(p.name for p in (root / "outputs").iterdir())
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file(), "a rank stopped elsewhere"
    return stopped


def test_two_processes_match_one_with_the_same_global_batch(tmp_path, ddp_run):
    two, stats, two_s = ddp_run  # `--nproc 2 --json`, training.max_steps=4 (tests/conftest.py)
    one = make_project(tmp_path / "one")
    t0 = time.time()
    r1 = run_here(cmd(one, "--json", sets=("training.max_steps=4",)))
    assert r1.returncode == 0, r1.stderr[-3000:]
    one_s = time.time() - t0
    a, b = losses(one), losses(two)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in a)
    for s in a:
        assert b[s] == pytest.approx(a[s], rel=TOL), (s, a[s], b[s])
    assert stats["total_steps"] == 4 and stats["effective_batch"] == 4

    st = status(two)
    pids = rank_pids(two)
    assert sorted(pids) == [0, 1] and st["pid"] == pids[0] and st["phase"] == "done"
    log = (two / "logs" / "training.log").read_text()
    assert "per-device batch 2 x accumulation 1 x 2 processes = 4" in log
    assert "backend auto -> hf for data-parallel training" in log
    assert f"(pid {pids[1]})" not in log and f"(pid {pids[0]})" in log
    ckpt = two / "outputs" / "checkpoint-4"
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file()
    assert_none_left(two)
    print(
        f"\ndata-parallel: 2 gloo processes vs 1, global batch 4: final loss {b[4]:.6f} vs {a[4]:.6f}, "
        f"worst step rel diff {worst:.2e} (tolerance {TOL}); one status writer (rank 0, pid {pids[0]}); "
        f"{one_s:.0f}s (in this process) vs {two_s:.0f}s"
    )


def test_sigterm_stops_all_ranks_at_one_step_and_resumes_on_one_process(tmp_path):
    root = make_project(tmp_path / "p")
    sets = ("training.max_steps=12", "training.save_steps=100")
    proc = subprocess.Popen(
        cmd(root, "--nproc", "2", "--json", sets=sets),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    sigterm_once_training(root, proc, watch=[proc])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    st = status(root)
    assert st["phase"] == "interrupted" and st["running"] is False
    stopped = assert_both_ranks_checkpointed(root, st)
    assert len(list((root / "outputs").glob("checkpoint-*"))) == 1
    assert_none_left(root)

    res = run_here(cmd(root, "--resume", "--json", sets=sets))  # one process now: the same effective batch
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout)
    assert stats["resumed_from"] == f"checkpoint-{stopped}" and stats["total_steps"] == 12
    print(f"\ndata-parallel SIGTERM: both ranks stopped at step {stopped}; resumed on 1 process to step 12")


def test_a_failing_rank_fails_the_run_with_its_error(tmp_path):
    root = make_project(tmp_path / "p")
    # the failure comes from outside forge: a tests-only sitecustomize on the ranks' PYTHONPATH
    inject = str(Path(__file__).parent / "inject")
    path = os.pathsep.join(p for p in (inject, ENV.get("PYTHONPATH")) if p)
    env = {**ENV, "FORGE_TEST_RANK_FAIL": "1:2", "PYTHONPATH": path}
    res = subprocess.run(
        cmd(root, "--nproc", "2", sets=("training.max_steps=6",)),
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    assert res.returncode == 1, res.stderr[-3000:]
    st = status(root)
    assert st["phase"] == "failed" and st["running"] is False
    assert st["error"].startswith("rank 1 failed: RuntimeError: injected failure on rank 1"), st["error"]
    assert_none_left(root)


def test_gpus_is_refused_on_the_cpu_with_the_fix(tmp_path):
    root = make_project(tmp_path / "p", n=4)
    res = run_here(cmd(root, "--gpus", "2"))
    assert res.returncode == 2
    assert "--nproc" in res.stderr.replace("\n", " ")
