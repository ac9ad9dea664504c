"""forge's varlen adapter for Unsloth's packed attention, against a stand-in dispatch module (no GPU)."""

import sys
import types

import pytest
import torch

from forge.train.backends import unsloth_varlen


@pytest.fixture
def dispatch(monkeypatch):
    """A stand-in for unsloth.utils.attention_dispatch as torch 2.11 leaves it: no varlen kernel."""
    ad = types.ModuleType("unsloth.utils.attention_dispatch")
    ad._TORCH_VARLEN_ATTN = None
    ad._LEAN_VARLEN = False
    ad._LeanFlashVarlen = object
    pkg, utils = types.ModuleType("unsloth"), types.ModuleType("unsloth.utils")
    pkg.utils, utils.attention_dispatch = utils, ad
    for name, mod in (("unsloth", pkg), ("unsloth.utils", utils), ("unsloth.utils.attention_dispatch", ad)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cuda, "is_flash_attention_available", lambda: True, raising=False)
    calls = []

    def fake_varlen(q, k, v, cu_q, cu_k, max_q, max_k, *, return_aux=None, scale=None, window_size=(-1, -1)):
        calls.append((q.shape, k.shape, v.shape, window_size))
        return q

    import torch.nn.attention.varlen as vl

    monkeypatch.setattr(vl, "varlen_attn", fake_varlen)
    monkeypatch.delenv("FORGE_TORCH_VARLEN", raising=False)
    return ad, calls


def test_adapter_enables_the_lean_path_and_expands_gqa_heads(dispatch):
    ad, calls = dispatch
    note = unsloth_varlen.enable_torch_varlen()
    assert note and "varlen" in note
    assert ad._LEAN_VARLEN is True
    assert ad._varlen_can_use_cudnn(None, None, None, 1, [-1, 0], True) is False
    q, kv = torch.zeros(10, 32, 64), torch.zeros(10, 8, 64)
    cu = torch.tensor([0, 4, 10], dtype=torch.int32)
    ad._TORCH_VARLEN_ATTN(q, kv, kv, cu, cu, 6, 6, scale=None, window_size=(-1, 0), enable_gqa=True)
    assert calls[-1] == (q.shape, torch.Size([10, 32, 64]), torch.Size([10, 32, 64]), (-1, 0))
    ad._TORCH_VARLEN_ATTN(q, q, q, cu, cu, 6, 6, scale=None, window_size=(-1, 0), enable_gqa=False)
    assert calls[-1][1] == q.shape


def test_leaves_unsloth_alone_when_it_has_varlen_or_when_told(dispatch, monkeypatch):
    ad, _ = dispatch
    monkeypatch.setenv("FORGE_TORCH_VARLEN", "0")
    assert unsloth_varlen.enable_torch_varlen() is None
    assert ad._TORCH_VARLEN_ATTN is None and ad._LEAN_VARLEN is False
    monkeypatch.delenv("FORGE_TORCH_VARLEN")
    own = object()
    ad._TORCH_VARLEN_ATTN = own  # torch >= 2.12: Unsloth found the kernel itself
    assert unsloth_varlen.enable_torch_varlen() is None
    assert ad._TORCH_VARLEN_ATTN is own


def test_no_cuda_no_change(dispatch, monkeypatch):
    ad, _ = dispatch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert unsloth_varlen.enable_torch_varlen() is None
    assert ad._LEAN_VARLEN is False
