"""Nothing lost, nothing leaked, on real runs (issue 17; CPU, builtin:tiny-llama):

- `forge export` while `forge train` runs is refused by the project lock (exit 1, naming the
  train's pid), writes nothing, and the readers (status, verify) keep answering meanwhile;
- every file of a finished train + baseline + evaluate + export is mode 0644 (none 0600);
- verify ticks the exported outputs as made from the adapter, and flags them once the adapter
  is replaced.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import forge_here

from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

SETS = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=64",
    "dataset.chat_template=llama-3",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
]


def _project(root: Path) -> Path:
    proj, _ = init_project(root)
    for path, n, prefix in ((proj.train_file, 32, "q"), (proj.val_file, 4, "v")):
        rows = [
            {"conversations": [{"from": "human", "value": f"{prefix} {i}?"}, {"from": "gpt", "value": "Forty-two."}]}
            for i in range(n)
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = json.loads(proj.config_file.read_text())
    for s in SETS:
        key, value = s.split("=", 1)
        section, name = key.split(".")
        cfg[section][name] = json.loads(value) if value[0].isdigit() or value in ("true", "false") else value
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    return proj.root


def forge(*args: str, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forge", *args], capture_output=True, text=True, timeout=timeout, **kw)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A project after train, baseline, evaluate and export (merged + Q8_0), under umask 022."""
    root = _project(tmp_path_factory.mktemp("outputs") / "proj")
    for verb in (
        ["baseline", str(root)],
        ["train", str(root), "--set", "training.max_steps=4"],
        ["evaluate", str(root), "--threshold", "0"],
        ["export", str(root), "--merged", "--gguf", "q8_0"],
    ):
        r = forge_here(*verb, env={"HF_HUB_OFFLINE": "1"}, umask=0o022)
        assert r.returncode in (0, 3), (verb, r.stdout[-2000:] + r.stderr[-3000:])
    return root


def test_every_output_of_a_run_and_an_export_is_0644(finished):
    modes = {}
    for p in sorted(finished.rglob("*")):
        if p.is_file() and not p.is_symlink():
            modes[str(p.relative_to(finished))] = stat.S_IMODE(p.stat().st_mode)
    for must in (
        "metrics/baseline.json",
        "metrics/evaluation.json",
        "metrics/training-stats.json",
        "metrics/export-report.json",
        "models/checkpoints/merged/model.safetensors",
        "models/checkpoints/lora/adapter_model.safetensors",
        ".factory/training-status.json",
    ):
        assert must in modes, (must, sorted(modes))
    assert any(k.endswith(".gguf") for k in modes)
    wrong = {k: oct(v) for k, v in modes.items() if v != 0o644}
    assert not wrong, wrong
    print(f"\nmodes: {len(modes)} files of a finished train + baseline + evaluate + export, all 0644")


def test_verify_ticks_outputs_of_this_adapter_and_flags_them_once_it_is_replaced(finished, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy, symlinks=True)
    # the report names paths relative to the project (an absolute one outside it: pointed at the copy)
    report = copy / "metrics" / "export-report.json"
    report.write_text(report.read_text().replace(str(finished), str(copy)))
    r = forge("verify", str(copy), "--json")
    items = {i["name"]: i for sec in json.loads(r.stdout)["sections"].values() for i in sec}
    assert items["outputs made from this adapter"]["status"] == "ok", items["outputs made from this adapter"]
    assert items["GGUF files"]["status"] == "ok" and "tensors" in items["GGUF files"]["detail"]

    from safetensors.torch import load_file, save_file

    weights = copy / "models" / "checkpoints" / "lora" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    save_file({k: v + 1 for k, v in tensors.items()}, str(weights))  # a new run's adapter
    r = forge("verify", str(copy), "--json")
    assert r.returncode == 1
    items = {i["name"]: i for sec in json.loads(r.stdout)["sections"].values() for i in sec}
    assert items["outputs made from this adapter"]["status"] == "fail"
    assert "another adapter" in items["outputs made from this adapter"]["detail"]


def test_export_while_train_runs_is_refused_and_readers_keep_working(tmp_path):
    root = _project(tmp_path / "proj")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = forge_here("train", str(root), "--set", "training.max_steps=2", env={"HF_HUB_OFFLINE": "1"})  # an adapter
    assert first.returncode == 0, first.stderr[-3000:]
    report = root / "metrics" / "export-report.json"
    train = subprocess.Popen(
        [sys.executable, "-m", "forge", "train", str(root), "--force", "--set", "training.max_steps=100000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        status = root / ".factory" / "training-status.json"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                st = json.loads(status.read_text())
            except (OSError, ValueError):
                st = {}
            if st.get("pid") == train.pid and st.get("phase") == "training" and st.get("step", 0) >= 1:
                break
            assert train.poll() is None, train.stderr.read()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("the run never reached training")
        started = time.monotonic()
        r = forge("export", str(root), "--merged", env=env)
        refused_in = time.monotonic() - started
        assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
        assert f"forge train (pid {train.pid})" in flat(r.stderr) and "forge export refused" in flat(r.stderr)
        assert not report.exists() and not (root / "models" / "checkpoints" / "merged").exists()
        for reader in (["status", str(root), "--json"], ["verify", str(root), "--json"]):
            out = forge(*reader, env=env)
            assert out.returncode in (0, 1) and json.loads(out.stdout), (reader, out.stderr[-2000:])
        assert json.loads(forge("status", str(root), "--json").stdout)["running"] is True
        print(f"\nexport during a run: refused in {refused_in:.1f} s (exit 1, names pid {train.pid}); readers answered")
    finally:
        train.send_signal(signal.SIGTERM)
        try:
            train.wait(timeout=120)
        except subprocess.TimeoutExpired:
            train.kill()
            train.wait()
