"""model.load_in_fp8 on a real Hopper card (skipped elsewhere): `forge train` with FP8 base weights
finishes on a bf16 copy of builtin:tiny-llama, its adapter names the bf16 base folder (not Unsloth's private FP8 copy), and
`forge export --merged` folds it into the bf16 weights: each merged weight equals base + scale x B A.

The loss parity and the speed of FP8 are measured in bench/ (`python -m bench.run --arms p16,p8`),
not asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.gpu.test_unsloth_gpu import _forge, _project, _record, _sets

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available() or torch.cuda.get_device_capability() < (9, 0), reason="needs a Hopper+ GPU"
    ),
]


def _bf16_copy(tmp_path) -> Path:
    """builtin:tiny-llama in bfloat16: the built-in is stored in float32, which FP8 refuses (Unsloth
    quantises the weights as stored; torchao's row-wise FP8 takes bf16 only)."""
    import shutil

    from transformers import AutoModelForCausalLM

    from forge.models.loader import resolve_model_path

    src, dst = Path(resolve_model_path("builtin:tiny-llama")), tmp_path / "tiny-llama-bf16"
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors"):
            shutil.copy2(f, dst / f.name)
    AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16).save_pretrained(dst)  # config says bf16
    return dst


def test_fp8_train_then_export_merges_into_the_bf16_base(tmp_path):
    from safetensors.torch import load_file
    from tests.conftest import chat_rows

    base = _bf16_copy(tmp_path)
    proj = _project(tmp_path, chat_rows(120), chat_rows(12, "v"))
    sets = _sets(
        f"model.name={base}",
        "dataset.chat_template=llama-3",
        "model.load_in_4bit=false",
        "model.load_in_fp8=true",
        "model.max_seq_length=256",
        "training.max_steps=6",
        "training.learning_rate=1e-2",  # a visible adapter delta in six steps
    )
    code, out = _forge(["train", str(proj.root), "--backend", "unsloth"] + sets)
    assert code == 0, out[-6000:]
    info = json.loads((proj.lora_dir / "adapter_config.json").read_text())
    assert Path(info["base_model_name_or_path"]).resolve() == Path(base).resolve()

    code, out = _forge(["export", str(proj.root), "--merged"] + sets)
    assert code == 0, out[-6000:]
    merged = {}
    for f in sorted(proj.merged_dir.glob("*.safetensors")):
        merged.update(load_file(str(f)))
    base_w = load_file(str(Path(base) / "model.safetensors"))
    lora = load_file(str(proj.lora_dir / "adapter_model.safetensors"))
    scale = info["lora_alpha"] / info["r"]
    name = "model.layers.0.self_attn.q_proj"
    a = next(v for k, v in lora.items() if name in k and "lora_A" in k).float()
    b = next(v for k, v in lora.items() if name in k and "lora_B" in k).float()
    expect = base_w[f"{name}.weight"].float() + scale * (b @ a)
    got = merged[f"{name}.weight"].float()
    assert (b @ a).abs().max() > 0  # the adapter learned something
    assert torch.allclose(got, expect, atol=2e-2, rtol=2e-2)
    _record("fp8_train_export", merged_max_abs_diff=float((got - expect).abs().max()))
