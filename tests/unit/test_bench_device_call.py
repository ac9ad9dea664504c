"""bench/device_call.sh: several bench.run cases in one device call, each packed into one archive
(the lent machine hands back at most 8 files), each under its own limit, one summary."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/usr/bin/env bash
out=""; while [[ $# -gt 0 ]]; do [[ "$1" == "--out" ]] && out=$2; shift; done
mkdir -p "$out"; echo "| arm | $(basename "$out") |" > "$out/bench-m.md"; echo '{}' > "$out/arm-c.json"
[[ "$out" == *slow* ]] && sleep 10
exit 0
"""


def test_each_case_comes_back_as_one_archive_with_a_summary(tmp_path):
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(FAKE_PYTHON)
    (shim / "python").chmod(0o755)
    out = tmp_path / "out"
    cases = "30 first --model llama-1b --arms c\n# a comment\n\n1 slow --model llama-8b --arms c,g\n"
    env = {**os.environ, "OUT": str(out), "PATH": f"{shim}:{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", str(ROOT / "bench/device_call.sh")], input=cases, text=True, env=env, capture_output=True
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["card.txt", "first.tgz", "slow.tgz", "summary.md"]
    with tarfile.open(out / "first.tgz") as t:
        assert {"./first.log", "./first/arm-c.json", "./first/bench-m.md"} <= set(t.getnames())
    summary = (out / "summary.md").read_text()
    assert "## first (exit 0, limit 30 s): bench.run --model llama-1b --arms c" in summary
    assert "| arm | first |" in summary
    assert "## slow (exit 124, limit 1 s)" in summary  # cut by its limit, still packed
