"""`forge train ... | head -1`: the reader goes away, the run goes on (QA, 2026-12-01: Rich's
SystemExit on a broken pipe stopped the run and left its status "validating", running)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import chat_rows
from tests.conftest import write_jsonl as write_rows


def test_a_closed_pipe_does_not_stop_training(tmp_path):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(40))
    write_rows(proj.val_file, chat_rows(4, "v"))
    cmd = (
        f"{sys.executable} -m forge train {proj.root} --set model.name=builtin:tiny-llama "
        "--set model.load_in_4bit=false --set training.max_steps=3 --set training.logging_steps=1 2>&1 | head -1"
    )
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out
    st = json.loads(proj.status_file.read_text())
    assert st["phase"] == "done" and st["step"] == 3 and st["running"] is False
    assert (proj.lora_dir / "adapter_model.safetensors").is_file()
