"""Validation memory does not follow the file size (bench/data_validate.py at small sizes; no timing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("data_validate", ROOT / "bench" / "data_validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peak_memory_is_bounded_relative_to_file_size():
    bench = _bench()
    small = bench.run(4)
    large = bench.run(16)
    print(
        f"\nvalidate 4 MB: peak RSS {small['peak_rss_mb']:.1f} MB (+{small['rss_growth_mb']:.1f}); "
        f"16 MB: {large['peak_rss_mb']:.1f} MB (+{large['rss_growth_mb']:.1f})"
    )
    assert small["problems"] == large["problems"] == 0
    assert large["rows"] > 3.5 * small["rows"]
    # 4x the file may cost the duplicate index (16 bytes a row) and allocator noise, never 4x the memory
    assert large["rss_growth_mb"] < small["rss_growth_mb"] + 8
    assert large["peak_rss_mb"] < 1.5 * small["peak_rss_mb"]


def test_record_appends_under_its_section(tmp_path):
    bench = _bench()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Training (GPU)\n\n| a |\n|---|\n| 1 |\n")
    bench.record("| r1 |", doc)
    bench.record("| r2 |", doc)
    text = doc.read_text()
    assert text.count("## Data validation (CPU)") == 1
    assert text.index("| r1 |") < text.index("| r2 |")
    assert "## Training (GPU)\n\n| a |\n|---|\n| 1 |" in text
