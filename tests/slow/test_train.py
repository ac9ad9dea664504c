"""End-to-end `forge train` on CPU with the tiny built-in Llama (slow: each run takes seconds).

One uninterrupted run (module fixture) serves as the reference: its artifacts are checked, and an
interrupted-then-resumed run must reproduce its losses step for step.

`forge` runs the CLI in a new interpreter: for a signal to the run, a lock held by this process or
faults injected through tests/slow/inject; `forge_here` runs it in this process (the same exit
code and output, without importing torch and transformers again).
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

STEPS = 10
SETTINGS = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=64",
    "dataset.chat_template=llama-3",
    f"training.max_steps={STEPS}",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "training.save_steps=2",
    "lora.r=16",
    "lora.lora_alpha=32",
]


def _rows(n: int, prefix: str) -> list[dict]:
    # a constant answer: learnable in a few steps even by a random tiny model
    return [
        {
            "conversations": [
                {"from": "human", "value": f"{prefix} question {i}?"},
                {"from": "gpt", "value": "The answer is forty-two."},
            ]
        }
        for i in range(n)
    ]


def make_project(root: Path, n: int = 64) -> Path:
    proj, _ = init_project(root)
    for path, rows in ((proj.train_file, _rows(n, "q")), (proj.val_file, _rows(8, "v"))):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return proj.root


def sets(*extra: str) -> list[str]:
    out: list[str] = []
    for s in (*SETTINGS, *extra):
        out += ["--set", s]
    return out


def forge(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# tests/slow/inject on PYTHONPATH: its sitecustomize injects the faults a FORGE_TEST_* variable names
INJECT = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "inject"), os.environ.get("PYTHONPATH", "")])}


def flat(text: str) -> str:
    """Rich wraps long lines at the terminal width; join them back for substring checks."""
    return text.replace("\n", "")


def history(root: Path) -> list[dict]:
    lines = (root / "metrics" / "training-history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def train_losses(root: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in history(root) if r["loss"] is not None}


def status(root: Path) -> dict:
    try:
        return json.loads((root / ".factory" / "training-status.json").read_text())
    except (OSError, ValueError):
        return {}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("full") / "proj")
    t0 = time.time()
    extra = ("training.report_to=tensorboard", "save.merged_path=models/checkpoints/merged")
    res = forge_here("train", str(root), *sets(*extra), "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    return root, json.loads(res.stdout), time.time() - t0


def test_full_run_writes_every_artifact(full_run):
    root, stats, _ = full_run
    lora = root / "models" / "checkpoints" / "lora"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json"):
        assert (lora / name).is_file(), name
    assert "chat_template" in (lora / "tokenizer_config.json").read_text() or (lora / "chat_template.jinja").is_file()
    merged = root / "models" / "checkpoints" / "merged"
    assert (merged / "config.json").is_file() and list(merged.glob("*.safetensors"))
    assert not list(lora.parent.glob(".lora.*")), "temporary adapter folders left behind"

    saved = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert {k: v for k, v in stats.items() if k not in ("ok", "verb")} == saved  # --json: the envelope, then the record
    for key in ("model", "dataset_samples", "final_loss", "total_steps", "epochs", "completed_at"):
        assert stats[key] is not None, key
    assert stats["total_steps"] == STEPS and stats["backend"] == "hf"
    assert stats["mean_train_loss"] and stats["eval_loss"] and stats["versions"]["transformers"]
    assert stats["plan"]["optim"] == "adamw_torch"  # adamw_8bit mapped on the CPU
    assert (root / "metrics" / "loss.png").stat().st_size > 1000

    st = status(root)
    assert st["phase"] == "done" and st["running"] is False and st["step"] == STEPS
    assert st["backend"] == "hf" and st["run_id"] and st["completed_at"]

    rows = history(root)
    train = [r for r in rows if r["loss"] is not None]
    assert [r["step"] for r in train] == list(range(1, STEPS + 1))
    assert all(r["tokens_per_second"] is None or r["tokens_per_second"] > 0 for r in train)
    assert any(r["eval_loss"] is not None for r in rows)
    assert train[-1]["loss"] < train[0]["loss"], "loss did not go down"

    log = (root / "logs" / "training.log").read_text()
    assert "trained spans marked" in log and "«" in log and "adamw_torch" in log

    run = json.loads((root / "outputs" / "forge-run.json").read_text())
    assert run["fingerprint"]["train_sha256"] and run["config"]["training"]["max_steps"] == STEPS
    ckpts = sorted((root / "outputs").glob("checkpoint-*"))
    assert ckpts and all((c / "forge-complete.json").is_file() for c in ckpts)
    assert len(ckpts) <= 3  # save_total_limit
    assert not (root / ".factory" / "train.lock").read_text().strip(), "lock not released"


def test_report_to_tensorboard_writes_events(full_run):
    root, _, _ = full_run
    assert list((root / "outputs").rglob("events.out.tfevents.*"))


def test_verify_passes_on_full_run_and_fails_without_adapter(full_run, tmp_path):
    root, _, _ = full_run
    # with the config it trained with, as train's `next:` line prints it (the file names another model)
    res = forge("verify", str(root), "--json", *sets())
    out = json.loads(res.stdout)
    items = {i["name"]: i for sec in out["sections"].values() for i in sec}
    for name in ("adapter_config.json", "adapter_model.safetensors", "training-stats.json", "loss decreased"):
        assert items[name]["status"] == "ok", items[name]
    assert items["merged model"]["status"] == "ok"
    # no `forge evaluate` yet: the gate has not judged the adapter, which is the one failing item
    # (the tiny random model's loss above 1.0 is advice, a warning: forge.evaluate.verdict)
    failing = [i["name"] for i in items.values() if i["status"] == "fail"]
    assert res.returncode == 1 and failing == ["evaluate gate"], failing
    assert "not judged" in items["evaluate gate"]["detail"]

    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "models" / "checkpoints" / "lora" / "adapter_model.safetensors").unlink()
    res = forge("verify", str(copy), *sets())
    assert res.returncode == 1 and "adapter_model.safetensors" in res.stdout


def test_sigterm_then_resume_reproduces_losses(full_run, tmp_path):
    ref_root, ref_stats, _ = full_run
    root = make_project(tmp_path / "proj")
    cmd = [sys.executable, "-m", "forge", "train", str(root), *sets(), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if status(root).get("step", 0) >= 3 and status(root).get("phase") == "training":
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 143, err[-3000:]
    st = status(root)
    assert st["phase"] == "interrupted" and st["running"] is False
    stopped = st["step"]
    assert 3 <= stopped < STEPS
    assert (root / "outputs" / f"checkpoint-{stopped}" / "forge-complete.json").is_file()
    assert not (root / "models" / "checkpoints" / "lora" / "adapter_config.json").exists()

    # a torn checkpoint newer than the good one is ignored, with a warning naming it
    torn = root / "outputs" / f"checkpoint-{stopped + 50}"
    torn.mkdir()
    res = forge_here("train", str(root), *sets(), "--resume", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"checkpoint-{stopped + 50}" in (root / "logs" / "training.log").read_text()

    stats = json.loads(res.stdout)
    assert stats["total_steps"] == ref_stats["total_steps"] == STEPS
    assert stats["resumed_from"] == f"checkpoint-{stopped}"
    ref, got = train_losses(ref_root), train_losses(root)
    assert sorted(got) == sorted(ref) == list(range(1, STEPS + 1))
    for step in ref:
        assert got[step] == pytest.approx(ref[step], rel=1e-4, abs=1e-5), step

    # resuming onto changed data is refused, with the difference named
    train = root / "data" / "splits" / "train.jsonl"
    train.write_text(train.read_text() + json.dumps(_rows(1, "extra")[0]) + "\n")
    res = forge_here("train", str(root), *sets(), "--resume")
    assert res.returncode == 2 and "train_sha256" in flat(res.stderr)


def test_nan_stops_at_once_without_adapter(tmp_path):
    root = make_project(tmp_path / "proj", n=32)
    res = forge("train", str(root), *sets("training.max_steps=4"), env={**INJECT, "FORGE_TEST_NAN_AT_STEP": "3"})
    assert res.returncode == 1, res.stderr[-3000:]
    assert "1e-4" in flat(res.stderr)
    st = status(root)
    assert st["phase"] == "failed" and st["error_kind"] == "nan" and st["running"] is False
    assert "5e-5" in st["solution"]
    assert not (root / "models" / "checkpoints" / "lora").exists()
    assert (root / "outputs" / "checkpoint-2" / "forge-complete.json").is_file()  # the last good one
    assert not (root / "outputs" / "checkpoint-3").exists()
    assert max(train_losses(root)) < float("inf") and max(train_losses(root)) == max(train_losses(root))


def test_second_run_is_refused_with_holders_pid(tmp_path):
    from forge.lock import TrainLock

    root = make_project(tmp_path / "proj", n=8)
    with TrainLock(root / ".factory" / "train.lock"):  # this process holds the lock, as a running train would
        res = forge("train", str(root), *sets())
    assert res.returncode == 1
    assert f"pid {os.getpid()}" in flat(res.stderr)
    assert not (root / ".factory" / "training-status.json").exists(), "the refused run touched the status"


def test_all_masked_dataset_is_refused_before_any_step(tmp_path):
    root = make_project(tmp_path / "proj", n=16)
    long_prompt = " ".join(["context"] * 200)
    rows = [
        {"conversations": [{"from": "human", "value": f"{long_prompt} {i}?"}, {"from": "gpt", "value": "ok."}]}
        for i in range(16)
    ]
    (root / "data" / "splits" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = forge_here("train", str(root), *sets())
    assert res.returncode == 2, res.stderr[-3000:]
    assert "max_seq_length" in flat(res.stderr)
    st = status(root)
    assert st["phase"] == "failed" and st["step"] == 0
    assert not list((root / "outputs").glob("checkpoint-*"))


def test_bad_data_is_refused_before_loading_a_model(tmp_path):
    root = make_project(tmp_path / "proj", n=8)
    train = root / "data" / "splits" / "train.jsonl"
    train.write_text(train.read_text() + '{"conversations": [{"from": "human", "value": "hi"}]}\n')
    res = forge_here("train", str(root), *sets())
    assert res.returncode == 2
    assert "train.jsonl:9" in flat(res.stderr)
    assert "LoRA" not in (root / "logs" / "training.log").read_text()  # no model was loaded


def test_scripts_train_py_runs_the_same_training(tmp_path):
    root = make_project(tmp_path / "proj", n=16)
    cfg = json.loads((root / "training-config.json").read_text())
    for item in (*SETTINGS, "training.max_steps=2"):
        key, value = item.split("=", 1)
        section, name = key.split(".")
        try:
            cfg[section][name] = json.loads(value)
        except ValueError:
            cfg[section][name] = value
    (root / "training-config.json").write_text(json.dumps(cfg, indent=2))
    res = subprocess.run(
        [sys.executable, "scripts/train.py", "--config", "training-config.json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors").is_file()
    assert json.loads((root / "metrics" / "training-stats.json").read_text())["total_steps"] == 2
