"""forge.train.backends.flex_masks: transformers' flex masks built eagerly, the same BlockMask."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
masking = pytest.importorskip("transformers.masking_utils")

from forge.train.backends import flex_masks  # noqa: E402


@pytest.fixture
def restore_builder(monkeypatch):
    monkeypatch.setattr(masking, "create_block_mask", masking.create_block_mask)
    yield


def _packed_mask_fn(lengths):
    """Packed documents, causal inside each: the padding-free rows of forge's packing."""
    doc = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])

    def mask_mod(b, h, q, kv):
        return (doc[q] == doc[kv]) & (kv <= q)

    return mask_mod, int(doc.numel())


def test_eager_build_is_the_same_block_mask_as_torchs(restore_builder):
    from torch.nn.attention.flex_attention import create_block_mask

    calls = []
    original = masking.create_block_mask
    masking.create_block_mask = lambda *a, **k: calls.append(k) or original(*a, **{**k, "_compile": False})
    note = flex_masks.build_flex_masks_eagerly()
    assert "FORGE_FLEX_MASK=compiled" in note
    mask_mod, n = _packed_mask_fn([200, 130, 310])
    got = masking.flex_attention_mask(batch_size=1, q_length=n, kv_length=n, mask_function=mask_mod, device="cpu")
    want = create_block_mask(mask_mod, 1, None, n, n, device="cpu", _compile=False)
    assert torch.equal(got.to_dense(), want.to_dense())
    assert calls == []  # the eager path was taken, not the compiled builder
    assert flex_masks.build_flex_masks_eagerly() == ""  # installed once


def test_too_large_for_free_memory_keeps_the_compiled_builder(restore_builder, monkeypatch):
    seen = []
    masking.create_block_mask = lambda *a, **k: seen.append(a[3]) or "compiled"
    flex_masks.build_flex_masks_eagerly()
    monkeypatch.setattr(flex_masks.hardware, "free_bytes", lambda device: 1024)  # 1 KB free
    assert masking.create_block_mask(lambda b, h, q, kv: q >= kv, 1, None, 256, 256, device="cpu") == "compiled"
    assert seen == [256]


def test_switch_off_and_the_fit_rule(restore_builder, monkeypatch):
    monkeypatch.setenv("FORGE_FLEX_MASK", "compiled")
    before = masking.create_block_mask
    assert flex_masks.build_flex_masks_eagerly() == ""
    assert masking.create_block_mask is before
    # 9,216 packed tokens: about 0.85 GB; fits in 139 GB free, not in 2 GB free
    assert flex_masks.eager_fits(1, 9216, 9216, 139 * 1024**3)
    assert not flex_masks.eager_fits(1, 9216, 9216, 2 * 1024**3)
    assert not flex_masks.eager_fits(8, 16384, 16384, None)  # host: over 2 GB


def test_free_memory_is_what_this_process_may_take_under_its_cap(monkeypatch):
    """An emulated 16 GB card on a 139 GB one (set_per_process_memory_fraction): the driver reports
    100 GB free, but the process may take only its cap less what it holds. The eager build was
    sized by the driver's figure, so on the emulated 16 GB card (H200, 2026-12-07) it built a
    29,952-token mask densely (about 9 GB) where a real 16 GB card would not have."""
    from forge.plan.hardware import free_bytes

    G = 1024**3
    cuda = torch.cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "current_device", lambda: 0)
    monkeypatch.setattr(cuda, "mem_get_info", lambda i: (100 * G, 139 * G))
    monkeypatch.setattr(cuda, "memory_allocated", lambda i: 4 * G)
    monkeypatch.setattr(cuda, "memory_reserved", lambda i: 5 * G)
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda i: 16 / 139)
    assert free_bytes("cuda:0") == 12 * G  # 16 GB cap less the 4 held
    assert not flex_masks.eager_fits(1, 29952, 29952, free_bytes("cuda"))
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda i: 1.0)
    assert free_bytes(None) == 101 * G  # no cap: the driver's free plus torch's unused cache
    assert free_bytes("cpu") is None
