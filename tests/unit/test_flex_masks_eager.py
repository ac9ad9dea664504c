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
    G = 1024**3
    # 9,216 packed tokens: about 0.85 GB, one pass with 139 GB free; in 2 GB free, slabs of half a GB
    assert flex_masks.slab_rows(1, None, 9216, 9216, 139 * G, 128) == 9216
    assert flex_masks.slab_rows(1, None, 9216, 9216, 2 * G, 128) == 5760
    # 29,952 (9 x 3,328, the 4B-it at 16 GB): 9 GB in one pass; slabs of 1 GB, whole blocks of 128
    assert flex_masks.slab_rows(1, None, 29952, 29952, 12 * G, 128) == 3584
    assert flex_masks.slab_rows(8, None, 16384, 16384, None, 128) == 768  # host: 1 GB slabs
    assert flex_masks.slab_rows(1, None, 29952, 29952, 1024, 128) == 0  # not one block row: compiled


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
    assert flex_masks.slab_rows(1, None, 29952, 29952, free_bytes("cuda"), 128) == 3584
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda i: 1.0)
    assert free_bytes(None) == 101 * G  # no cap: the driver's free plus torch's unused cache
    assert free_bytes("cpu") is None


def _window_mask_fn(lengths, window):
    """Packed documents with a sliding window (Gemma 3's local layers)."""
    doc = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])

    def mask_mod(b, h, q, kv):
        return (doc[q] == doc[kv]) & (kv <= q) & (q - kv < window)

    return mask_mod, int(doc.numel())


@pytest.mark.parametrize("rows", [128, 256, 384])
def test_a_mask_built_in_slabs_is_the_same_block_mask(rows):
    """Slabs of query rows, joined: the same partial and full blocks, in the same order, as torch's
    one dense pass (a length that is no multiple of the block, documents across slab edges)."""
    from torch.nn.attention.flex_attention import create_block_mask

    mask_mod, n = _window_mask_fn([300, 77, 512, 130], window=200)
    want = create_block_mask(mask_mod, 1, None, n, n, device="cpu", _compile=False)
    got = flex_masks.block_mask_in_slabs(mask_mod, 1, None, n, n, "cpu", rows)
    assert torch.equal(got.to_dense(), want.to_dense())
    for name in ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"):
        assert torch.equal(getattr(got, name), getattr(want, name)), name
    assert got.seq_lengths == want.seq_lengths


def test_the_builder_takes_slabs_where_one_pass_would_not_fit(restore_builder, monkeypatch):
    """Through transformers' own mask function, as a packed batch reaches it: over the slab budget
    the mask comes in slabs, never from the compiled builder, and is the same."""
    from torch.nn.attention.flex_attention import create_block_mask

    calls = []
    masking.create_block_mask = lambda *a, **k: calls.append(k) or "compiled"
    flex_masks.build_flex_masks_eagerly()
    monkeypatch.setattr(flex_masks, "SLAB_BYTES", 1000 * 1000 * flex_masks.EAGER_BYTES_PER_ELEMENT // 3)
    slabs = []
    real = flex_masks.block_mask_in_slabs
    monkeypatch.setattr(flex_masks, "block_mask_in_slabs", lambda *a: slabs.append(a[6]) or real(*a))
    mask_mod, n = _packed_mask_fn([400, 350, 250])
    got = masking.flex_attention_mask(batch_size=1, q_length=n, kv_length=n, mask_function=mask_mod, device="cpu")
    want = create_block_mask(mask_mod, 1, None, n, n, device="cpu", _compile=False)
    assert calls == [] and slabs == [256]
    assert torch.equal(got.to_dense(), want.to_dense())


def test_a_failed_slab_build_compiles_instead_and_says_so_once(restore_builder, monkeypatch):
    calls = []
    masking.create_block_mask = lambda *a, **k: calls.append(a[3]) or "compiled"
    flex_masks.build_flex_masks_eagerly()
    monkeypatch.setattr(flex_masks, "SLAB_BYTES", 1000 * 128 * flex_masks.EAGER_BYTES_PER_ELEMENT)
    monkeypatch.setattr(flex_masks, "_FELL_BACK", [])

    def broken(*a):
        raise TypeError("an unexpected keyword argument 'Q_BLOCK_SIZE'")  # torch's internals moved

    monkeypatch.setattr(flex_masks, "block_mask_in_slabs", broken)
    with pytest.warns(UserWarning, match="slab build failed .*compiling instead"):
        assert masking.create_block_mask(lambda b, h, q, kv: q >= kv, 1, None, 1000, 1000, device="cpu") == "compiled"
    assert masking.create_block_mask(lambda b, h, q, kv: q >= kv, 1, None, 1000, 1000, device="cpu") == "compiled"
    assert calls == [1000, 1000] and len(flex_masks._FELL_BACK) == 1
