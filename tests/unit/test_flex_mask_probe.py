"""bench/probes/flex_mask.py: its eager mode builds real block masks of packed rows on a CPU."""

import json

from bench.probes.flex_mask import main, packed_positions


def test_packed_positions_restart_at_each_document():
    pos = packed_positions(3000, seed=0)[0].tolist()
    assert len(pos) == 3000 and pos[0] == 0
    assert pos.count(0) >= 2  # several documents, each counted from 0


def test_eager_mode_builds_packed_and_windowed_block_masks(tmp_path):
    out = tmp_path / "m.json"
    assert (
        main(["--mode", "eager", "--device", "cpu", "--lengths", "2048", "--sliding-window", "256", "--out", str(out)])
        == 0
    )
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [r["phase"] for r in rows] == ["train"] * 4 + ["eval"] * 2
    assert {r["type"] for r in rows} == {"BlockMask"}
    full = next(r for r in rows if r["mask"] == "create_causal_mask")
    window = next(r for r in rows if r["mask"] == "create_sliding_window_causal_mask")
    # a plain causal mask of 16 x 16 blocks leaves 47% out; packed documents leave out more,
    # and a 256-token window more again
    assert full["sparsity_pct"] > 50
    assert window["sparsity_pct"] > full["sparsity_pct"]
