"""Two "nodes" on one machine: two `forge train` launchers, `--nnodes 2`, torchrun's c10d rendezvous on
127.0.0.1, one gloo process each, one shared project folder (as on a shared filesystem).

- forge's own options do it (`--nnodes`, `--node-rank`, `--rdzv-endpoint`): no hand-written torchrun;
- SIGTERM to one node's launcher stops the ranks of both nodes at the same step with one complete
  checkpoint (both ranks' RNG states in it); both launchers exit 143; no rank is left behind;
- the checkpoint resumes on one process to the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_distributed import (  # noqa: E402
    ENV,
    assert_both_ranks_checkpointed,
    assert_none_left,
    cmd,
    make_project,
    rank_pids,
    run_here,
    sigterm_once_training,
    status,
)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(root: Path, k: int, port: int, sets: tuple[str, ...]) -> subprocess.Popen:
    args = cmd(root, "--nproc", "1", "--nnodes", "2", "--node-rank", str(k), "--rdzv-endpoint", f"127.0.0.1:{port}")
    args += ["--json"] + [x for s in sets for x in ("--set", s)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def test_sigterm_to_one_node_stops_both_with_a_checkpoint(tmp_path):
    root = make_project(tmp_path / "shared")
    sets = ("training.max_steps=10", "training.save_steps=100")
    port = free_port()
    t0 = time.time()
    nodes = [node(root, 0, port, sets)]
    time.sleep(1.0)  # node 0 hosts the rendezvous store; node 1 would wait for it anyway
    nodes.append(node(root, 1, port, sets))
    sigterm_once_training(root, nodes[1], watch=nodes, timeout=240)  # node 1 only
    results = [p.communicate(timeout=240) for p in nodes]
    codes = [p.returncode for p in nodes]
    assert codes == [143, 143], (codes, results[0][1][-2000:], results[1][1][-2000:])
    st = status(root)
    assert st["phase"] == "interrupted" and st["running"] is False
    stopped = assert_both_ranks_checkpointed(root, st)
    assert sorted(rank_pids(root)) == [0, 1]
    log = (root / "logs" / "training.log").read_text()
    assert "per-device batch 2 x accumulation 1 x 2 processes = 4" in log
    assert_none_left(root)
    t1 = time.time()

    res = run_here(cmd(root, "--resume", "--json", sets=sets))  # one process now: the same global batch
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout)
    assert stats["resumed_from"] == f"checkpoint-{stopped}" and stats["total_steps"] == 10
    print(
        f"\ntwo nodes (c10d on 127.0.0.1:{port}): SIGTERM to node 1 stopped both at step {stopped} "
        f"({t1 - t0:.0f}s); resumed on 1 process to step 10"
    )
