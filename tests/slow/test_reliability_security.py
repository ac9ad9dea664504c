"""Security of a run (CPU, builtin:tiny-llama):

- nothing installs, clones or builds at run time: a full `forge train` (with the merged model)
  runs under a sys.addaudithook that records every subprocess / os.system / os.exec* / spawn
  event, and none of them runs pip, apt, git, cmake, make, curl or wget;
- every torch.load during the run (resume included) is weights_only=True: no pickle executes;
- trust_remote_code reaches from_pretrained as False unless the config asks for it;
- the outputs are safetensors: no .bin/.pt/.pth/.pkl in the adapter or merged folders, and the
  checkpoints' model weights are safetensors.

The web UI's path-traversal refusals and its localhost default are tested in
tests/unit/test_web_api.py (test_file_route_refuses_escapes, test_static_and_ids_refuse_escapes,
test_forge_ui_warns_when_bound_beyond_localhost); symlinks out of the project on every route, the
Host check (DNS rebinding), no CORS, offline /docs and the busy port in
tests/unit/test_web_security.py; checkpoints forge did not write are refused in
tests/unit/test_security_checkpoints.py and tests/slow/test_reliability_faults.py. The project
lock, 0644 outputs and verify's provenance check: tests/unit/test_project_lock.py,
tests/slow/test_reliability_outputs.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FORBIDDEN = ("pip", "apt", "apt-get", "git", "cmake", "make", "curl", "wget", "conda", "uv", "ninja", "gcc", "cc")

AUDITED = r"""
import json, os, sys
events = []
def hook(event, args):
    if event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"):
        try:
            events.append([event, [str(a) for a in (args if isinstance(args, (list, tuple)) else [args])][:3]])
        except Exception:
            events.append([event, ["?"]])
sys.addaudithook(hook)
loads = []
import torch
_load = torch.load
def load(*a, **k):
    loads.append([str(a[0]) if a else "?", k.get("weights_only")])
    return _load(*a, **k)
torch.load = load
from forge.cli import main
codes = [main(sys.argv[2:]), main(sys.argv[2:] + ["--resume", "--set", "training.max_steps=4"])]
with open(sys.argv[1], "w") as f:
    json.dump({"codes": codes, "events": events, "loads": loads}, f)
"""


def test_a_run_installs_clones_builds_nothing_and_unpickles_nothing(project, tmp_path):
    root = project.root
    out = tmp_path / "audit.json"
    args = ["train", str(root), "--json"]
    for s in (
        "model.name=builtin:tiny-llama",
        "model.load_in_4bit=false",
        "model.max_seq_length=32",
        "dataset.chat_template=llama-3",
        "dataset.val_path=null",
        "training.max_steps=2",
        "training.save_steps=1",
        "training.per_device_train_batch_size=2",
        "training.gradient_accumulation_steps=1",
        "save.merged_path=models/checkpoints/merged",
    ):
        args += ["--set", s]
    res = subprocess.run(
        [sys.executable, "-c", AUDITED, str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    audit = json.loads(out.read_text())
    assert audit["codes"] == [0, 0]

    def program(ev) -> str:
        first = ev[1][0] if ev[1] else ""
        first = first.strip("[]'\" ").split(",")[0].strip("'\" ")
        return Path(first).name

    bad = [ev for ev in audit["events"] if ev[0] != "os.fork" and program(ev) in FORBIDDEN]
    bad += [ev for ev in audit["events"] if any(w in " ".join(ev[1]) for w in (" install", "clone", "cmake"))]
    assert not bad, bad

    loads = audit["loads"]
    assert any("optimizer.pt" in p for p, _ in loads), "the resume did not load a checkpoint"
    assert all(w is True for _, w in loads), [x for x in loads if x[1] is not True]

    for folder in ("models/checkpoints/lora", "models/checkpoints/merged"):
        files = [p.name for p in (root / folder).iterdir()]
        assert any(n.endswith(".safetensors") for n in files), (folder, files)
        assert not [n for n in files if n.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle"))], (folder, files)
    for ckpt in (root / "outputs").glob("checkpoint-*"):
        assert (ckpt / "adapter_model.safetensors").is_file()
        assert not [p.name for p in ckpt.iterdir() if p.name in ("adapter_model.bin", "pytorch_model.bin")]
    print(
        f"\nsecurity: {len(audit['events'])} process events audited during a train + resume, none installs, "
        f"clones or builds; {len(loads)} torch.load calls, all weights_only"
    )


def test_trust_remote_code_reaches_from_pretrained_only_when_asked(monkeypatch):
    import transformers

    from forge.config import ForgeConfig
    from forge.models.loader import load_model_and_tokenizer

    seen: list[tuple[str, object]] = []
    for cls in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        original = cls.from_pretrained.__func__

        def spy(klass, *a, _orig=original, _name=cls.__name__, **k):
            seen.append((_name, k.get("trust_remote_code", "absent")))
            return _orig(klass, *a, **k)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))

    cfg = ForgeConfig.model_validate({"model": {"name": "builtin:tiny-llama", "load_in_4bit": False}})
    assert cfg.model.trust_remote_code is False
    load_model_and_tokenizer(cfg.model, device="cpu")
    assert seen and all(v is False for _, v in seen), seen
    seen.clear()
    cfg = ForgeConfig.model_validate(
        {"model": {"name": "builtin:tiny-llama", "load_in_4bit": False, "trust_remote_code": True}}
    )
    load_model_and_tokenizer(cfg.model, device="cpu")
    assert seen and all(v is True for _, v in seen), seen
