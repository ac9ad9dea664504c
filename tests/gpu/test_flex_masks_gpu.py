"""The flex masks' eager build on a real card (skipped elsewhere): a cap set with
set_per_process_memory_fraction is what free_bytes reports, not the driver's free memory, and a
mask of a packed micro-batch built in slabs is torch's BlockMask with a transient within its budget.
The eleventh session's 16 GB row (docs/benchmarks.md) is why: its peak was a 9 GB one-pass build.
"""

from __future__ import annotations

import pytest
from tests.gpu.test_unsloth_gpu import _record

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

G = 1024**3


def _packed_window_mask(lengths, window, device):
    doc = torch.cat([torch.full((n,), i, device=device) for i, n in enumerate(lengths)])

    def mask_mod(b, h, q, kv):
        return (doc[q] == doc[kv]) & (kv <= q) & (q - kv < window)

    return mask_mod, int(doc.numel())


def test_an_emulated_cap_is_the_free_memory_and_slabs_stay_inside_their_budget():
    from torch.nn.attention.flex_attention import create_block_mask

    from forge.plan.hardware import free_bytes
    from forge.train.backends import flex_masks

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(16 * G / total)  # a 16 GB card, as bench --card-gb 16
    try:
        held = torch.empty(2 * G, dtype=torch.uint8, device="cuda")
        free = free_bytes("cuda")
        assert abs(free - (16 * G - torch.cuda.memory_allocated())) < 2**20, free / G  # the cap, not the card
        del held

        mask_mod, n = _packed_window_mask([3328] * 5 + [1000], window=1024, device="cuda")  # 17,640 tokens
        rows = flex_masks.slab_rows(1, None, n, n, free_bytes("cuda"), 128)
        assert 0 < rows < n  # one pass would be about 3.1 GB: over the 1 GB slab
        want = create_block_mask(mask_mod, 1, None, n, n, device="cuda", _compile=False)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        got = flex_masks.block_mask_in_slabs(mask_mod, 1, None, n, n, "cuda", rows)
        torch.cuda.synchronize()
        transient = torch.cuda.max_memory_allocated() - base
        _record("flex_mask_slabs", tokens=n, rows=rows, transient_gb=transient / G)
        assert transient <= flex_masks.SLAB_BYTES * 1.2, transient / G
        for name in ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"):
            assert torch.equal(getattr(got, name), getattr(want, name)), name
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
