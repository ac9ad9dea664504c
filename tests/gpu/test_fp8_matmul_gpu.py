"""model.fp8_matmul on a real Hopper card (skipped elsewhere): the FP8 base products agree with bf16
within FP8's rounding, give the base no weight gradient, and a run on the 1B shape trains, is
stopped with SIGTERM, resumes to its last step, and exports a merged model that equals the bf16
base plus the adapter. Speed and loss parity are measured in bench/ (`--arms c,g,p16,pg`), not here.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from tests.gpu.test_unsloth_gpu import _forge, _project, _record, _sets, llama1b  # noqa: F401  (fixture)

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available() or torch.cuda.get_device_capability() < (9, 0), reason="needs a Hopper+ GPU"
    ),
]


def _rel(a, b) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.mark.parametrize("accum", ["exact", "fast-forward", "fast"])
def test_fp8_products_match_bf16_and_leave_the_weight_frozen(accum, monkeypatch):
    """Each way of accumulating (FORGE_FP8_ACCUM) gives the same products within FP8's rounding."""
    from forge.train.fp8_matmul import _module_class

    monkeypatch.setenv("FORGE_FP8_ACCUM", accum)
    torch.manual_seed(0)
    lin = torch.nn.Linear(2048, 8192, bias=False, device="cuda", dtype=torch.bfloat16).requires_grad_(False)
    fp8 = _module_class()(lin)
    x = torch.randn(3, 333, 2048, device="cuda", dtype=torch.bfloat16, requires_grad=True)  # rows not /16
    x8 = x.detach().clone().requires_grad_(True)
    y, y8 = lin(x), fp8(x8)
    g = torch.randn_like(y)
    y.backward(g)
    y8.backward(g)
    fwd, bwd = _rel(y8, y), _rel(x8.grad, x.grad)
    _record("fp8_matmul_products", accum=accum, forward_rel_err=fwd, input_grad_rel_err=bwd)
    assert y8.shape == y.shape and y8.dtype == torch.bfloat16
    assert fwd < 0.06 and bwd < 0.06, (fwd, bwd)
    assert not any(p.requires_grad for p in fp8.parameters())


def test_fp8_matmul_trains_resumes_and_exports(tmp_path, llama1b):  # noqa: F811
    from bench.common import make_chat
    from safetensors.torch import load_file

    proj = _project(tmp_path, make_chat(400, seed=3), make_chat(16, seed=4))
    sets = _sets(
        f"model.name={llama1b}",
        "dataset.chat_template=llama-3",
        "model.fp8_matmul=true",
        "model.max_seq_length=1024",
        "training.per_device_train_batch_size=4",
        "training.gradient_accumulation_steps=1",
        "training.max_steps=16",
        "training.save_steps=4",
        "training.eval_steps=8",
        "training.learning_rate=1e-3",
    )
    proc = _forge(["train", str(proj.root), "--backend", "unsloth"] + sets, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline:
        st = json.loads(proj.status_file.read_text()) if proj.status_file.exists() else {}
        if st.get("step", 0) >= 5 or proc.poll() is not None:
            break
        time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, out[-6000:]
    log = proj.log_file.read_text()
    assert "FP8 base products (model.fp8_matmul)" in log, log[-3000:]
    code, out = _forge(["train", str(proj.root), "--backend", "unsloth", "--resume"])
    assert code == 0, out[-6000:]
    st = json.loads(proj.status_file.read_text())
    assert st["phase"] == "done" and st["step"] == 16
    stats = json.loads(proj.training_stats_file.read_text())
    assert stats["final_loss"] == stats["final_loss"]  # not NaN

    code, out = _forge(["export", str(proj.root), "--merged"] + sets)
    assert code == 0, out[-6000:]
    info = json.loads((proj.lora_dir / "adapter_config.json").read_text())
    merged = {}
    for f in sorted(proj.merged_dir.glob("*.safetensors")):
        merged.update(load_file(str(f)))
    base = {}
    for f in sorted(Path(llama1b).glob("*.safetensors")):
        base.update(load_file(str(f)))
    lora = load_file(str(proj.lora_dir / "adapter_model.safetensors"))
    name = "model.layers.0.mlp.down_proj"
    a = next(v for k, v in lora.items() if name in k and "lora_A" in k).float()
    b = next(v for k, v in lora.items() if name in k and "lora_B" in k).float()
    expect = base[f"{name}.weight"].float() + info["lora_alpha"] / info["r"] * (b @ a)
    got = merged[f"{name}.weight"].float()
    assert (b @ a).abs().max() > 0
    assert torch.allclose(got, expect, atol=2e-2, rtol=2e-2)
    _record(
        "fp8_matmul_train_resume_export",
        final_loss=stats["final_loss"],
        tokens_per_second=st.get("tokens_per_second"),
        merged_max_abs_diff=float((got - expect).abs().max()),
    )
