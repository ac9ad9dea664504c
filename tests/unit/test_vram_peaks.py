"""The GPU memory peaks training-stats.json records: the load's (up to the first step) apart from
the steps' own, which are what the plan's torch_peak_gb estimates (a fake torch.cuda stands in)."""

from __future__ import annotations

import sys
import types

from forge.train.report import _peaks
from forge.train.vram import split_load_peak

GB = 1024**3


def fake_torch(monkeypatch, cuda=True):
    state = {"alloc": 0, "reserved": 0, "peak_alloc": 0, "peak_reserved": 0}

    def use(alloc, reserved):
        state.update(alloc=alloc * GB, reserved=reserved * GB)
        state["peak_alloc"] = max(state["peak_alloc"], alloc * GB)
        state["peak_reserved"] = max(state["peak_reserved"], reserved * GB)

    def reset():
        state["peak_alloc"], state["peak_reserved"] = state["alloc"], state["reserved"]

    cuda_ns = types.SimpleNamespace(
        is_available=lambda: cuda,
        max_memory_allocated=lambda: state["peak_alloc"],
        max_memory_reserved=lambda: state["peak_reserved"],
        reset_peak_memory_stats=reset,
        empty_cache=lambda: state.update(reserved=state["alloc"]),
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda_ns))
    return use


def test_the_load_peak_is_kept_apart_from_the_steps(monkeypatch):
    use = fake_torch(monkeypatch)
    use(9.0, 9.5)  # a 16-bit layer on its way to 4-bit
    use(4.0, 9.5)  # loaded: 4 GB stay
    load = split_load_peak()
    assert load == (9.0, 9.5)
    use(6.0, 6.5)  # the steps
    use(4.5, 6.5)
    peaks = _peaks(load)
    assert peaks["load_peak_vram_gb"] == 9.0
    # the load's cache handed back before the steps: their reserved peak is their own
    assert peaks["steps_peak_vram_gb"] == 6.0 and peaks["steps_peak_vram_reserved_gb"] == 6.5
    assert peaks["peak_vram_gb"] == 9.0 and peaks["peak_vram_reserved_gb"] == 9.5  # the whole segment's, as before


def test_steps_above_the_load_and_no_split(monkeypatch):
    use = fake_torch(monkeypatch)
    use(3.0, 3.2)
    load = split_load_peak()
    use(7.0, 7.4)
    peaks = _peaks(load)
    assert (peaks["peak_vram_gb"], peaks["steps_peak_vram_gb"], peaks["load_peak_vram_gb"]) == (7.0, 7.0, 3.0)
    # no split recorded (a run that never reached on_train_begin): the steps' figures are the segment's
    assert _peaks(None)["load_peak_vram_gb"] is None and _peaks(None)["peak_vram_gb"] == 7.0


def test_nothing_without_cuda(monkeypatch):
    fake_torch(monkeypatch, cuda=False)
    assert split_load_peak() is None and _peaks(None) == {}
