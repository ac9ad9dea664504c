"""`model.fp8_matmul` (forge's FP8 base products): the config rules, the refusals where no FP8 GPU is,
and the scale arithmetic of the products (run on the CPU through the fp32 stand-in of _scaled_mm;
the real tensor-core product is tested in tests/gpu/test_fp8_matmul_gpu.py)."""

from __future__ import annotations

import json
import sys

import pytest

from forge.config import validate_dict
from forge.errors import ForgeError
from forge.plan.fp8 import fp8_matmul_refusal


def test_off_by_default_and_replaces_4bit():
    assert validate_dict({}).model.fp8_matmul is False
    cfg = validate_dict({"model": {"fp8_matmul": True}})
    assert cfg.model.fp8_matmul and not cfg.model.load_in_4bit


@pytest.mark.parametrize(
    "model, words",
    [
        ({"fp8_matmul": True, "load_in_fp8": True}, "set one of them to false"),
        ({"fp8_matmul": True, "dtype": "float16"}, "model.fp8_matmul to false"),
    ],
)
def test_contradictions_are_config_errors(model, words):
    from forge.config import ConfigError

    with pytest.raises((ConfigError, ValueError)) as e:
        validate_dict({"model": model})
    assert words in str(e.value)


@pytest.mark.parametrize("cap", [None, "8.0", "8.6", "garbage"])
def test_refused_without_a_hopper_gpu(cap):
    err = fp8_matmul_refusal(cap, "NVIDIA A100" if cap else "")
    assert isinstance(err, ForgeError) and err.exit_code == 2
    assert "model.fp8_matmul to false" in err.fix


@pytest.mark.parametrize("cap", ["9.0", "10.0"])
def test_accepted_on_hopper_and_newer(cap):
    assert fp8_matmul_refusal(cap, "NVIDIA H200") is None


def test_check_and_train_refuse_it_on_this_cpu(tmp_path):
    """As a user would run it on a machine without a GPU: check not ready (1), train refused (2),
    both naming the key and the fix, and nothing trained."""
    import subprocess

    from model_folders import chat_rows, write_rows

    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(120))
    write_rows(proj.val_file, chat_rows(8, "v"))
    sets = ["--set", "model.name=builtin:tiny-llama", "--set", "model.fp8_matmul=true"]
    run = lambda *a: subprocess.run([sys.executable, "-m", "forge", *a], capture_output=True, text=True)  # noqa: E731
    check = run("check", str(proj.root), "--json", *sets)
    assert check.returncode == 1, check.stdout + check.stderr
    failed = [i for sec in json.loads(check.stdout)["sections"].values() for i in sec if i["status"] == "fail"]
    assert any("model.fp8_matmul is true but there is no CUDA GPU" in i["detail"] for i in failed), failed
    train = run("train", str(proj.root), "--json", *sets)
    assert train.returncode == 2, train.stdout + train.stderr
    err = json.loads(train.stdout)
    assert "fp8_matmul" in err["error"] and "model.fp8_matmul to false" in err["fix"]
    assert not proj.lora_dir.exists()


def test_products_and_gradient_through_the_scales():
    torch = pytest.importorskip("torch")
    from forge.train.fp8_matmul import _module_class, convert

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96, bias=True).to(torch.bfloat16).requires_grad_(False)
    fp8 = _module_class()(lin)
    x = torch.randn(2, 7, 64, dtype=torch.bfloat16, requires_grad=True)  # 14 rows: padded to 16
    x8 = x.detach().clone().requires_grad_(True)
    y, y8 = lin(x), fp8(x8)
    g = torch.randn_like(y)
    y.backward(g)
    y8.backward(g)

    def rel(a, b):
        return float((a.detach().float() - b.detach().float()).norm() / b.detach().float().norm())

    assert y8.shape == y.shape
    assert rel(y8, y) < 0.06 and rel(x8.grad, x.grad) < 0.06
    # a wrong scale (e.g. W's row scales left out of the input gradient) is off by far more than FP8 rounding
    assert rel(y8, y * 2) > 0.3
    assert not any(p.requires_grad for p in fp8.parameters())

    class Lora(torch.nn.Module):  # the shape of a PEFT LoRA layer: base_layer + lora_A
        def __init__(self, base):
            super().__init__()
            self.base_layer, self.lora_A = base, torch.nn.ModuleDict()

    odd = torch.nn.Linear(64, 90).requires_grad_(False)  # 90 rows: not a multiple of 16, kept
    model = torch.nn.ModuleList([Lora(lin), Lora(odd)])
    assert convert(model) == (1, 1)
    assert type(model[0].base_layer).__name__ == "FrozenFP8Linear" and model[1].base_layer is odd


def test_the_fp8_weight_answers_the_products_unsloths_kernels_ask_for():
    """Unsloth's fused LoRA kernels multiply base_layer.weight with matmul(x, W.t()), matmul(dy, W.t().t(),
    out=...), addmm_ and F.linear; each answers with the FP8 product, and nothing else computes on it."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from forge.train.fp8_matmul import quantised_parts
    from forge.train.fp8_weight import fp8_weight_class, swap_weights

    torch.manual_seed(0)
    w = torch.randn(96, 64, dtype=torch.bfloat16)
    fw = fp8_weight_class()(quantised_parts(w))

    def rel(a, b):
        return float((a.detach().float() - b.detach().float()).norm() / b.detach().float().norm())

    assert fw.shape == w.shape and fw.dtype == torch.bfloat16 and fw.t().shape == (64, 96) and fw.T.shape == (64, 96)
    x, dy = torch.randn(2, 7, 64, dtype=torch.bfloat16), torch.randn(14, 96, dtype=torch.bfloat16)
    assert rel(torch.matmul(x, fw.t()), x @ w.t()) < 0.06
    wt = fw.t()  # what fast_dequantize(W.t(), None) hands the backward
    assert rel(torch.matmul(dy, wt.t()), dy @ w) < 0.06
    out = torch.empty(14, 64, dtype=torch.bfloat16)
    assert torch.matmul(dy, wt.t(), out=out) is out and rel(out, dy @ w) < 0.06
    acc = torch.randn(14, 64, dtype=torch.bfloat16)
    expect = acc + 0.5 * (dy @ w)
    acc.addmm_(dy, wt.t(), alpha=0.5)
    assert rel(acc, expect) < 0.06
    xr = torch.randn(5, 64, dtype=torch.bfloat16, requires_grad=True)
    xb = xr.detach().clone().requires_grad_(True)
    F.linear(xr, fw).sum().backward()
    F.linear(xb, w).sum().backward()
    assert rel(xr.grad, xb.grad) < 0.06  # the input gradient flows, through the FP8 product
    with pytest.raises(NotImplementedError, match="model.fp8_matmul to false"):
        fw + 1  # a bf16 computation on the frozen weight is refused, not done quietly

    class Lora(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base_layer, self.lora_A = base, torch.nn.ModuleDict()

    lin = torch.nn.Linear(64, 96, bias=False).to(torch.bfloat16).requires_grad_(False)
    ref = lin.weight.detach().clone()
    assert swap_weights(torch.nn.ModuleList([Lora(lin)])) == (1, 0)
    assert not list(lin.parameters()) and not lin.state_dict()  # nothing of it in a checkpoint or adapter
    assert rel(lin(x), x @ ref.t()) < 0.06


def test_one_input_is_quantised_once_for_the_products_that_share_it(monkeypatch):
    """Unsloth's kernels multiply one X by Q, K and V: X is quantised once (the same storage, shape
    and version), again after an in-place change, and every time with FORGE_FP8_REUSE=0; the
    products and the input gradient are the same either way."""
    torch = pytest.importorskip("torch")
    import forge.train.fp8_matmul as m
    from forge.train.fp8_weight import fp8_weight_class

    calls = []
    real = m.quantise
    monkeypatch.setattr(m, "quantise", lambda t, col=None: calls.append(col is None) or real(t, col))
    monkeypatch.setattr(m, "_LAST", [None])
    torch.manual_seed(0)
    ws = [torch.randn(n, 64, dtype=torch.bfloat16) for n in (96, 32, 32)]
    fws = [fp8_weight_class()(m.quantised_parts(w)) for w in ws]

    def qkv(x):
        x2 = x.view(-1, 64)  # a new view object per product, as matmul_lora makes
        return [torch.matmul(x2.view(-1, 64), fw.t()) for fw in fws]

    x = torch.randn(2, 7, 64, dtype=torch.bfloat16, requires_grad=True)
    outs = qkv(x)
    assert calls == [True], calls  # one forward quantisation for three products
    sum(o.float().square().sum() for o in outs).backward()
    grad = x.grad.clone()
    assert calls.count(False) == 3  # each input gradient quantises its own dy
    with torch.no_grad():
        x.mul_(2)  # same storage, new version: quantised again, and the products follow
    calls.clear()
    again = qkv(x)
    assert calls == [True] and all(
        torch.allclose(a.float(), 2 * o.float(), rtol=0.1, atol=0.2) for a, o in zip(again, outs, strict=True)
    )

    monkeypatch.setenv("FORGE_FP8_REUSE", "0")
    x.grad = None
    with torch.no_grad():
        x.div_(2)
    calls.clear()
    outs0 = qkv(x)
    assert calls == [True, True, True]
    assert all(torch.equal(a, b) for a, b in zip(outs0, outs, strict=True))
    sum(o.float().square().sum() for o in outs0).backward()
    assert torch.equal(x.grad, grad)


def test_the_accumulation_mode_is_one_of_three_and_says_which(monkeypatch):
    """FORGE_FP8_ACCUM picks how the products accumulate (the bench's arms g / g2 / g3); a typo is
    named with the values it takes, not taken silently as the default."""
    from forge.train.fp8_matmul import ACCUM_MODES, accum_mode

    monkeypatch.delenv("FORGE_FP8_ACCUM", raising=False)
    assert accum_mode() == "exact"
    for mode in ACCUM_MODES:
        monkeypatch.setenv("FORGE_FP8_ACCUM", mode)
        assert accum_mode() == mode
    monkeypatch.setenv("FORGE_FP8_ACCUM", "fastest")
    from forge.errors import ForgeError

    with pytest.raises(ForgeError, match="'fastest'") as err:
        accum_mode()
    assert "exact, fast-forward, fast" in err.value.fix


def test_apply_names_the_accumulation_and_refuses_a_mistyped_one_before_swapping(monkeypatch):
    """The run's note says how the products accumulate; a FORGE_FP8_ACCUM typo stops the run at the
    swap, with the fix, and leaves the bf16 weights as they were."""
    torch = pytest.importorskip("torch")
    from forge.errors import ForgeError
    from forge.train.fp8_weight import apply

    class Lora(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base_layer, self.lora_A = base, torch.nn.ModuleDict()

    def model():
        lin = torch.nn.Linear(64, 96, bias=False).to(torch.bfloat16).requires_grad_(False)
        return torch.nn.ModuleList([Lora(lin)]), lin

    monkeypatch.delenv("FORGE_FP8_ACCUM", raising=False)
    m, _ = model()
    assert "1 frozen linears" in apply(m) and "exact accumulation, FORGE_FP8_ACCUM" in apply(model()[0])
    assert "FSDP" not in apply(model()[0])
    from forge.train.distributed.world import World

    monkeypatch.setattr(
        World, "current", staticmethod(lambda: World.from_env({"WORLD_SIZE": "2", "FORGE_DIST_STRATEGY": "fsdp"}))
    )
    assert "FSDP does not shard them" in apply(model()[0])  # said in the run's notes, not found out
    monkeypatch.setenv("FORGE_FP8_ACCUM", "quick")
    m, lin = model()
    with pytest.raises(ForgeError, match="'quick'"):
        apply(m)
    assert isinstance(lin.weight, torch.nn.Parameter)  # nothing swapped
