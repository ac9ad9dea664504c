"""SIGKILL at 20 random moments (fixed seed) of `forge train` on builtin:tiny-llama, CPU.

After every kill `forge train --resume` goes on; at the end every chain of runs has the losses of an
uninterrupted run, step for step, and nothing torn or temporary is left. A third of the kills aim
at checkpoint saves: the harness widens two windows of the save with a short sleep, (a) after the
model weights are written and before the optimizer state, (b) after the Trainer finished the
folder and before forge's completion marker, and kills inside the window.

Invariant checked after every kill: every checkpoint folder that carries forge's marker is whole
(forge.train.integrity.problem is None): the marker is never ahead of the data. The resume that
follows names the checkpoint it starts from, and it must be the newest valid one.

To fit 20+ process starts into the CI budget, the runs are forked from one harness process that
imported torch/transformers once (a subprocess of the test, so pytest's own state is not
inherited); each run is a separate process calling forge's CLI entry `forge.cli.main`, killed with
a real SIGKILL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SEED = 20260110
KILLS = 20
STEPS = 10
SAVE_SLEEP = 0.35
SETTINGS = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=32",
    "dataset.chat_template=llama-3",
    "dataset.val_path=null",
    f"training.max_steps={STEPS}",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=2",
    "training.gradient_accumulation_steps=1",
    "training.save_steps=1",
    "training.save_total_limit=2",
    "training.optim=adamw_torch",
    "training.backend=hf",
]


def _rows(n: int) -> list[dict]:
    return [
        {
            "conversations": [
                {"from": "human", "value": f"question {i}?"},
                {"from": "gpt", "value": "The answer is forty-two."},
            ]
        }
        for i in range(n)
    ]


def _make_project(root: Path) -> Path:
    from forge.init.scaffold import init_project

    proj, _ = init_project(root)
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in _rows(16)), encoding="utf-8")
    return proj.root


def _args(root: Path, *extra: str) -> list[str]:
    out = ["train", str(root), "--json", *extra]
    for s in SETTINGS:
        out += ["--set", s]
    return out


def _losses(root: Path) -> dict[int, float]:
    path = root / "metrics" / "training-history.jsonl"
    out = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("loss") is not None:
            out[row["step"]] = row["loss"]
    return out


def _leftovers(root: Path) -> list[str]:
    """Torn checkpoints, temporary and half-deleted files anywhere in the project."""
    from forge.train.checkpoints import MARKER
    from forge.train.integrity import problem

    bad = []
    for p in root.rglob("*"):
        name = p.name
        if name.endswith((".tmp", ".partial")) or ".tmp-" in name or name.startswith(".deleting-"):
            bad.append(str(p.relative_to(root)))
    for c in (root / "outputs").glob("checkpoint-*"):
        if problem(c) is not None:
            bad.append(f"{c.name}: {problem(c)}")
        if (c / f".{MARKER}.tmp").exists():
            bad.append(f"{c.name}: marker tmp")
    return bad


# ---------------------------------------------------------------------------------------- harness


def _install_save_windows(windows_file: Path) -> None:
    """Widen two moments of every checkpoint save (see the module docstring); the children inherit it."""
    import transformers

    import forge.train.callbacks as callbacks

    def mark(kind: str, step) -> None:
        with open(windows_file, "a") as f:
            f.write(f"{os.getpid()} {kind} {step}\n")
        time.sleep(SAVE_SLEEP)

    original_opt = transformers.Trainer._save_optimizer_and_scheduler

    def save_opt(self, output_dir):
        mark("weights-written", self.state.global_step)
        return original_opt(self, output_dir)

    original_mark = callbacks.mark_complete

    def mark_complete(path, info):
        mark("before-marker", info.get("step"))
        return original_mark(path, info)

    transformers.Trainer._save_optimizer_and_scheduler = save_opt
    callbacks.mark_complete = mark_complete


def _spawn(args: list[str], log_path: Path) -> int:
    pid = os.fork()
    if pid == 0:  # the child: one `forge train`, its output to a file
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            from forge.cli import main

            code = main(args)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 99
        os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st)


def _windows(windows_file: Path, pid: int, kind: str) -> int:
    try:
        lines = windows_file.read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if line.split()[:2] == [str(pid), kind])


def _resume_lines(root: Path) -> list[str]:
    log = root / "logs" / "training.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if "resuming from " in line]


def _refused(root: Path) -> bool:
    """`--resume` refused because no valid checkpoint is left (never a silent restart)."""
    try:
        st = json.loads((root / ".factory" / "training-status.json").read_text())
    except (OSError, ValueError):
        return False
    return st.get("error_kind") == "no_valid_checkpoint"


def _status_ok(root: Path) -> bool:
    p = root / ".factory" / "training-status.json"
    if not p.exists():
        return True
    try:
        json.loads(p.read_text())
        return True
    except ValueError:
        return False


def harness(work: Path) -> dict:
    import datasets  # noqa: F401  (imported once here, inherited by every forked run)
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    import forge.train.backends.hf  # noqa: F401
    import forge.train.recipe  # noqa: F401
    from forge.train.integrity import newest_valid, problem

    windows_file = work / "windows.txt"
    _install_save_windows(windows_file)
    rng = random.Random(SEED)
    t0 = time.time()

    ref = _make_project(work / "reference")
    code = _wait(_spawn(_args(ref), work / "reference.out"))
    assert code == 0, (work / "reference.out").read_text()[-3000:]
    ref_losses = _losses(ref)

    kills: list[dict] = []
    chains: list[dict] = []
    refusals = 0
    chain = 0
    root = _make_project(work / f"chain-{chain}")
    first = True
    while len(kills) < KILLS:
        kind = rng.choice(["time", "time", "weights-written", "before-marker"])
        if kind == "time":
            delay, nth = rng.uniform(0.2, 6.0), None
        else:
            delay, nth = None, rng.randint(1, 3)
        expected = newest_valid(root / "outputs")
        resumed_before = _resume_lines(root)
        extra = () if first else ("--resume",)
        out = work / f"run-{len(kills)}.out"
        pid = _spawn(_args(root, *extra), out)
        start = time.time()
        killed = None
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(st)
                break
            if (kind == "time" and time.time() - start >= delay) or (
                kind != "time" and _windows(windows_file, pid, kind) >= nth
            ):
                if kind != "time":
                    time.sleep(rng.uniform(0.0, SAVE_SLEEP * 0.8))  # somewhere inside the window
                os.kill(pid, signal.SIGKILL)
                code = _wait(pid)
                killed = time.time() - start
                break
            time.sleep(0.01)
        text = out.read_text() if out.exists() else ""
        resumed = _resume_lines(root)[len(resumed_before) :]
        if resumed:  # the resume started from the newest valid checkpoint there was when it began
            assert expected is not None and f"resuming from {expected.path} " in resumed[0], (resumed[0], expected)
        # the invariant: a marked checkpoint is a whole checkpoint
        for c in (root / "outputs").glob("checkpoint-*"):
            if (c / "forge-complete.json").exists():
                assert problem(c) is None, (c, problem(c))
        assert _status_ok(root), "status file unreadable after a kill"
        if killed is not None:
            kills.append({"kind": kind, "after_s": round(killed, 2), "resumed_from": expected and expected.step})
            first = False
            continue
        if code == 1 and _refused(root):
            refusals += 1  # every checkpoint was torn: the refusal is right; start over (a fresh run cleans them)
            first = True
            continue
        assert code == 0, text[-3000:]
        got = _losses(root)
        assert sorted(got) == sorted(ref_losses) == list(range(1, STEPS + 1)), (sorted(got), sorted(ref_losses))
        for s in ref_losses:
            assert got[s] == pytest.approx(ref_losses[s], rel=1e-4, abs=1e-5), (s, got[s], ref_losses[s])
        left = _leftovers(root)
        assert not left, left
        chains.append({"chain": chain, "kills": len(kills)})
        chain += 1
        root = _make_project(work / f"chain-{chain}")
        first = True

    # finish the last chain
    if not first or (root / "outputs").exists():
        code = _wait(_spawn(_args(root, "--resume"), work / "final.out"))
        text = (work / "final.out").read_text()
        if code == 1 and _refused(root):
            refusals += 1
            code = _wait(_spawn(_args(root), work / "final2.out"))
            text = (work / "final2.out").read_text()
        assert code == 0, text[-3000:]
        got = _losses(root)
        assert sorted(got) == list(range(1, STEPS + 1))
        for s in ref_losses:
            assert got[s] == pytest.approx(ref_losses[s], rel=1e-4, abs=1e-5), (s, got[s], ref_losses[s])
        left = _leftovers(root)
        assert not left, left
        chains.append({"chain": chain, "kills": len(kills)})
    return {
        "kills": kills,
        "kills_survived": len(kills),
        "save_window_kills": sum(1 for k in kills if k["kind"] != "time"),
        "chains_completed": len(chains),
        "refusals": refusals,
        "seconds": round(time.time() - t0, 1),
        "final_losses": ref_losses,
    }


# ---------------------------------------------------------------------------------------- the test

pytestmark = pytest.mark.slow


def test_sigkill_at_20_moments_then_resume(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "0"}
    res = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-5000:])
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    kinds = {}
    for k in summary["kills"]:
        kinds[k["kind"]] = kinds.get(k["kind"], 0) + 1
    print(
        f"\nkill and resume: {summary['kills_survived']} SIGKILLs survived ({kinds}), "
        f"{summary['save_window_kills']} inside checkpoint saves, {summary['chains_completed']} chains finished "
        f"with the uninterrupted run's losses, {summary['refusals']} correct refusals, {summary['seconds']}s"
    )
    assert summary["kills_survived"] >= KILLS
    assert summary["save_window_kills"] >= 3
    assert summary["chains_completed"] >= 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    result = harness(Path(sys.argv[1]))
    print(json.dumps(result))
