"""`forge export` end to end on CPU with the tiny built-in models (slow: seconds per export).

One `forge train` run on builtin:tiny-llama (module fixture) gives a real adapter; copies of that
project are exported, damaged and re-exported. tiny-gemma3 gets an adapter built with PEFT directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import chat_rows, forge_here
from tests.conftest import copy_trained as _copy
from tests.conftest import export_report as _report

from forge.cli import main
from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

TRAIN = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=64",
    "dataset.chat_template=llama-3",
    "training.max_steps=6",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "lora.r=8",
    "lora.lora_alpha=16",
]


def _rows(n: int, prefix: str) -> list[dict]:
    return chat_rows(n, prefix, answer="Forty-two.")


def _project(root: Path, model: str, template: str) -> Path:
    proj, _ = init_project(root)
    for path, rows in ((proj.train_file, _rows(32, "q")), (proj.val_file, _rows(4, "v"))):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"]["name"] = model
    cfg["model"]["load_in_4bit"] = False
    cfg["dataset"]["chat_template"] = template
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    return proj.root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = _project(tmp_path_factory.mktemp("export") / "llama", "builtin:tiny-llama", "llama-3")
    r = forge_here("train", str(root), *[a for s in TRAIN for a in ("--set", s)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors").is_file()
    return root


def flat(text: str) -> str:
    """Rich wraps long lines at the terminal width; join them back for substring checks."""
    return " ".join(text.split())


def _no_partials(root: Path) -> None:
    left = [p for p in root.rglob("*") if ".partial" in p.name or p.name.startswith(".forge-merged")]
    assert not left, left


def test_export_merged_and_q8_0_verified(trained, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    root = _copy(trained, tmp_path / "p")
    assert main(["export", str(root), "--merged", "--gguf", "q8_0"]) == 0
    out = flat(capsys.readouterr().out)
    assert "export verified" in out
    report = _report(root)
    assert report["ok"] and report["checks"] and all(c["ok"] for c in report["checks"])
    names = {c["name"] for c in report["checks"]}
    assert {"adapter loaded", "merge (float32) vs base + adapter", "GGUF metadata"} <= names
    merge = next(c for c in report["checks"] if c["name"].startswith("merge (float32)"))
    assert merge["max_abs_diff"] <= merge["tolerance"]["max_abs_diff"] and merge["top1_agreement"] == 1.0

    merged = root / "models" / "checkpoints" / "merged"
    model = AutoModelForCausalLM.from_pretrained(merged)
    tok = AutoTokenizer.from_pretrained(merged)
    assert str(model.config.dtype).endswith("bfloat16")
    assert "<|start_header_id|>" in tok.chat_template
    eos = GenerationConfig.from_pretrained(merged).eos_token_id
    assert tok.convert_tokens_to_ids("<|eot_id|>") in eos
    assert list(merged.glob("*.safetensors"))

    ggufs = sorted((root / "models" / "quantized").glob("*.gguf"))
    assert [g.name for g in ggufs] == ["tiny-llama-Q8_0.gguf"]
    modelfile = (root / "models" / "quantized" / "Modelfile").read_text()
    assert "FROM ./tiny-llama-Q8_0.gguf" in modelfile
    assert 'PARAMETER stop "<|eot_id|>"' in modelfile and "<|start_header_id|>" in modelfile

    import gguf

    fields = gguf.GGUFReader(str(ggufs[0])).fields
    assert fields["tokenizer.chat_template"].contents() == tok.chat_template
    eot = fields["tokenizer.ggml.eot_token_id"] if "tokenizer.ggml.eot_token_id" in fields else None
    eos = fields["tokenizer.ggml.eos_token_id"]
    # end of turn: its own key, or EOS itself where the tokenizer's eos is the end-of-turn token
    assert (eot or eos).contents() == tok.convert_tokens_to_ids("<|eot_id|>")
    _no_partials(root)


def test_export_says_when_the_adapter_failed_its_gate(trained, tmp_path):
    """Issue 28 (4): export ran without a word on an adapter whose gate had failed (exit 3)."""
    from tests.evaluate_files import write_metrics

    from forge.project import Project

    root = _copy(trained, tmp_path / "p")
    write_metrics(Project.at(root), base=(2.0, 7.4, 0.3, 0.0), tuned=(1.99, 7.3, 0.3, 0.0))
    r = forge_here("export", str(root), "--merged", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning: this adapter failed its evaluate gate" in flat(r.stderr)
    answer = json.loads(r.stdout)
    assert answer["ok"] and answer["gate"]["state"] == "fail" and answer["gate"]["passed"] is False
    v = forge_here("verify", str(root), "--json")
    gate = next(i for i in json.loads(v.stdout)["sections"]["Quality"] if i["name"] == "evaluate gate")
    assert v.returncode == 1 and gate["status"] == "fail"


def _gemma_project(root: Path) -> Path:
    """tiny-gemma3 with a LoRA adapter of random (non-zero) weights, made with PEFT directly."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from forge.models.loader import resolve_model_path

    root = _project(root, "builtin:tiny-gemma3", "gemma-3")
    path = resolve_model_path("builtin:tiny-gemma3")
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
        LoraConfig(
            r=8,
            lora_alpha=16,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ),
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    lora = root / "models" / "checkpoints" / "lora"
    model.save_pretrained(lora)
    tok.save_pretrained(lora)
    cfg = json.loads((lora / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "builtin:tiny-gemma3"
    (lora / "adapter_config.json").write_text(json.dumps(cfg))
    return root


def test_export_gemma3_f16_and_q8_0(tmp_path):
    root = _gemma_project(tmp_path / "g")
    assert main(["export", str(root), "--gguf", "f16,q8_0"]) == 0
    report = _report(root)
    assert report["ok"], report["checks"]
    assert {g["type"] for g in report["gguf"]} == {"F16", "Q8_0"}
    assert not (root / "models" / "checkpoints" / "merged").exists()  # only asked for GGUF
    modelfile = (root / "models" / "quantized" / "Modelfile").read_text()
    assert "FROM ./tiny-gemma3-F16.gguf" in modelfile and 'PARAMETER stop "<end_of_turn>"' in modelfile
    meta = next(c for c in report["checks"] if c["name"] == "GGUF metadata")
    assert meta["architecture"] == "gemma3" and meta["chat_template_matches"]
    _no_partials(root)
    # the converter names general.finetune from the folder it reads: not forge's scratch folder
    import gguf

    fields = gguf.GGUFReader(str(root / "models" / "quantized" / "tiny-gemma3-Q8_0.gguf")).fields
    if "general.finetune" in fields:
        f = fields["general.finetune"]
        value = bytes(f.parts[f.data[0]]).decode()
        assert "forge" not in value and "partial" not in value, value


@pytest.mark.skipif(
    not __import__("forge.export.gguf", fromlist=["x"]).llama_cpp_available(), reason="needs llama-cpp-python"
)
def test_export_kquant_with_llama_cpp(trained, tmp_path):
    root = _copy(trained, tmp_path / "k")
    assert main(["export", str(root), "--gguf", "q8_0,q4_k_m", "--json"]) == 0
    report = _report(root)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    greedy = [c for c in report["checks"] if c["name"] == "llama.cpp greedy decoding vs merged model"]
    assert {c["target"] for c in greedy} == {"GGUF Q8_0", "GGUF Q4_K_M"}
    assert all(0 <= c["top1_agreement"] <= 1 for c in greedy)
    assert sorted(p.name for p in (root / "models" / "quantized").glob("*.gguf")) == [
        "tiny-llama-Q4_K_M.gguf",
        "tiny-llama-Q8_0.gguf",
    ]
    _no_partials(root)


def test_truncated_adapter_fails_with_reason(trained, tmp_path, capsys):
    root = _copy(trained, tmp_path / "t")
    weights = root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["export", str(root), "--merged", "--gguf", "q8_0"]) == 1
    err = flat(capsys.readouterr().err)
    # the hint names the project folder, so it can be pasted from anywhere (forge.hints)
    assert "adapter" in err and "re-run `forge train " in err and root.name in err
    assert not (root / "models" / "checkpoints" / "merged").exists()
    assert not list((root / "models" / "quantized").glob("*.gguf"))
    _no_partials(root)


def test_nan_adapter_fails_verification(trained, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    root = _copy(trained, tmp_path / "n")
    weights = root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    key = next(k for k in tensors if "lora_B" in k)
    tensors[key][0, 0] = float("nan")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(weights))
    assert main(["export", str(root), "--gguf", "q8_0"]) == 1
    err = flat(capsys.readouterr().err)
    assert "export verification failed" in err and "NaN" in err
    report = _report(root)
    assert not report["ok"] and any(not c["ok"] and "NaN" in c["detail"] for c in report["checks"])
    assert not list((root / "models" / "quantized").glob("*.gguf"))
    _no_partials(root)


def test_mismatched_template_fails_verification(trained, tmp_path, capsys):
    root = _copy(trained, tmp_path / "m")
    cfg_file = root / "training-config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["dataset"]["chat_template"] = "chatml"  # the adapter was trained with llama-3
    cfg_file.write_text(json.dumps(cfg))
    assert main(["export", str(root), "--gguf", "q8_0"]) == 1
    err = flat(capsys.readouterr().err)
    assert "chat template" in err and "chatml" in err
    report = _report(root)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["chat template"]
    assert not list((root / "models" / "quantized").glob("*.gguf"))


def test_full_disk_stops_before_writing(trained, tmp_path, monkeypatch, capsys):
    import shutil as sh
    from collections import namedtuple

    root = _copy(trained, tmp_path / "d")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sh, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    assert main(["export", str(root), "--merged", "--gguf", "q8_0,f16"]) == 1
    err = flat(capsys.readouterr().err)
    assert "not enough disk space" in err and "free" in err
    after = sorted(p.relative_to(root) for p in root.rglob("*") if p.name != "export-report.json")
    assert after == before
    report = _report(root)
    assert report["ok"] is False and "disk" in report["error"]


def test_train_with_save_paths_exports_and_verifies(tmp_path):
    """save.merged_path + save.gguf_path: `forge train` ends with the same verified export as `forge export`."""
    root = _project(tmp_path / "t", "builtin:tiny-llama", "llama-3")
    sets = TRAIN[:-7] + [
        "training.max_steps=2",
        "save.merged_path=models/checkpoints/merged",
        "save.gguf_path=models/quantized",
        "save.gguf_quantization=Q8_0",
    ]
    r = forge_here("train", str(root), *[a for s in sets for a in ("--set", s)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert [g.name for g in (root / "models" / "quantized").glob("*.gguf")] == ["tiny-llama-Q8_0.gguf"]
    assert (root / "models" / "checkpoints" / "merged" / "model.safetensors").is_file()
    assert _report(root)["ok"] is True
    status = json.loads((root / ".factory" / "training-status.json").read_text())
    assert status["phase"] == "done" and status["running"] is False
    _no_partials(root)
