"""`forge train --nproc 2 --strategy fsdp` on the CPU (gloo, torchrun), builtin:tiny-llama.

- FSDP (accelerate's FSDP2, the parameters sharded over the ranks as DTensors) ends at the same
  losses as DDP with the same global batch, within rel 1e-3 per step (TOL): sharding changes only
  where the additions of the gradient all-reduce happen (measured: equal to the last printed digit);
- the adapter is one ordinary PEFT adapter (plain tensors, the keys DDP saves, the same values within
  1e-4), loadable without torch.distributed; a merged model, when asked, merges from it;
- SIGTERM stops both ranks at one step with a complete checkpoint, and the run resumes under FSDP.
"""

from __future__ import annotations

import json
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
    losses,
    make_project,
    rank_pids,
    run,
    sigterm_once_training,
    status,
)

pytestmark = pytest.mark.slow

TOL = 1e-3
ADAPTER_ATOL = 1e-4


def adapter(root: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors"))


def test_fsdp_trains_to_the_losses_of_ddp_and_saves_one_adapter(tmp_path, ddp_run):
    ddp, _, ddp_s = ddp_run  # `--nproc 2 --json`, training.max_steps=4 (tests/conftest.py)
    fsdp = make_project(tmp_path / "fsdp")
    t0 = time.time()
    merged = ("save.merged_path=models/checkpoints/merged",)  # a sharded model merges from the saved adapter
    r2 = run(cmd(fsdp, "--nproc", "2", "--strategy", "fsdp", "--json", sets=("training.max_steps=4", *merged)))
    assert r2.returncode == 0, r2.stderr[-3000:]
    fsdp_s = time.time() - t0
    a, b = losses(ddp), losses(fsdp)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for s in a:
        assert b[s] == pytest.approx(a[s], rel=TOL), (s, a[s], b[s])
    worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in a)
    stats = json.loads(r2.stdout)
    assert stats["total_steps"] == 4 and stats["effective_batch"] == 4

    log = (fsdp / "logs" / "training.log").read_text()
    assert "data-parallel over 2 processes (fsdp): per-device batch 2 x accumulation 1 x 2 processes = 4" in log
    line = next(x for x in log.splitlines() if "fsdp:" in x and "trained tensors were sharded" in x)
    sharded, total = (int(w) for w in line.split("fsdp: ", 1)[1].split(" trained")[0].split(" of "))
    assert total > 0 and sharded == total, line  # really sharded, not DDP under another name
    assert "fsdp" not in (ddp / "logs" / "training.log").read_text().split("data-parallel over", 1)[1][:40]

    wa, wb = adapter(ddp), adapter(fsdp)
    assert sorted(wa) == sorted(wb) and wb, "the FSDP adapter is not the adapter DDP saves"
    for k in wa:
        assert type(wb[k]).__name__ == "Tensor" and wb[k].shape == wa[k].shape, k
        assert (wb[k] - wa[k]).abs().max().item() <= ADAPTER_ATOL, k
    cfg = json.loads((fsdp / "models" / "checkpoints" / "lora" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA"
    assert (fsdp / "models" / "checkpoints" / "merged" / "model.safetensors").is_file()
    assert_none_left(fsdp)
    print(
        f"\nfsdp vs ddp, 2 gloo processes, global batch 4: final loss {b[4]:.6f} vs {a[4]:.6f}, worst step rel "
        f"diff {worst:.2e} (tolerance {TOL}); {sharded} of {total} trained tensors sharded; "
        f"{ddp_s:.0f}s ddp, {fsdp_s:.0f}s fsdp"
    )


def test_fsdp_sigterm_stops_both_ranks_with_a_checkpoint_and_resumes(tmp_path):
    root = make_project(tmp_path / "p")
    sets = ("training.max_steps=10", "training.save_steps=100")
    proc = subprocess.Popen(
        cmd(root, "--nproc", "2", "--strategy", "fsdp", "--json", sets=sets),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    sigterm_once_training(root, proc, watch=[proc])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    st = status(root)
    assert st["phase"] == "interrupted" and st["running"] is False
    stopped = assert_both_ranks_checkpointed(root, st)
    assert sorted(rank_pids(root)) == [0, 1]
    assert_none_left(root)

    res = run(cmd(root, "--nproc", "2", "--strategy", "fsdp", "--resume", "--json", sets=sets))
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout)
    assert stats["resumed_from"] == f"checkpoint-{stopped}" and stats["total_steps"] == 10
    assert (root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors").is_file()
    print(f"\nfsdp SIGTERM: both ranks stopped at step {stopped}; resumed under fsdp to step 10")
