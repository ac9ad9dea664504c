"""Unsloth patches transformers, TRL and PEFT when it is imported and runs slower where they were
imported first (it warns: "Unsloth should be imported before [trl, transformers, peft]"). So the
recipe picks its backend, whose constructor imports Unsloth, before anything of it imports
transformers: the resolver, which loads the tokenizer to measure the data, comes after.

A fresh interpreter runs `forge train` with a spy on select_backend that records which of those
libraries were already imported when the backend was chosen; on this CPU machine the backend is
hf, but the order is the recipe's, the same on a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

SPY = r"""
import json, sys
import forge.train.backends as backends
real = backends.select_backend
def spy(*a, **k):
    seen = [m for m in ("transformers", "trl", "peft") if m in sys.modules]
    open(sys.argv[1], "w").write(json.dumps(seen))
    return real(*a, **k)
backends.select_backend = spy
from forge.cli import main
sys.exit(main(["train", sys.argv[2], "--set", "model.name=builtin:tiny-llama", "--set", "dataset.chat_template=auto", "--set", "training.max_steps=1"]))
"""


def test_backend_is_chosen_before_transformers_is_imported(project, tmp_path):
    seen_file = tmp_path / "seen.json"
    r = subprocess.run(
        [sys.executable, "-c", SPY, str(seen_file), str(project.root)],
        cwd=ROOT,
        env={
            "PYTHONPATH": str(ROOT / "src"),
            "PATH": os.environ["PATH"],
            "HF_HUB_OFFLINE": "1",
            "HOME": os.environ.get("HOME", "/tmp"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seen_file.exists(), r.stdout[-2000:] + r.stderr[-2000:]
    assert json.loads(seen_file.read_text()) == [], "imported before the backend was chosen"
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
