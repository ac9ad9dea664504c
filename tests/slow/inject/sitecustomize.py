"""Test-only: put on PYTHONPATH of a `forge train --nproc N` subprocess to make one rank fail.

FORGE_TEST_RANK_FAIL="R:K" makes rank R raise at its K-th step end (its K-th agreement to stop),
from outside forge: production code carries no test hook.
"""

import os

_spec = os.environ.get("FORGE_TEST_RANK_FAIL", "")
if ":" in _spec and os.environ.get("FORGE_DIST_CHILD") == "1":
    from forge.train.distributed.world import World

    _rank, _at = (int(x) for x in _spec.split(":", 1))
    _calls = [0]
    _agree = World.agree_to_stop

    def agree_to_stop(self, local):
        _calls[0] += 1
        if self.rank == _rank and _calls[0] == _at:
            raise RuntimeError(f"injected failure on rank {self.rank} at step end {_at} (FORGE_TEST_RANK_FAIL)")
        return _agree(self, local)

    World.agree_to_stop = agree_to_stop

# OOM / NaN / slow-eval faults of the recipe's tests (forge_faults.py, beside this file)
import forge_faults  # noqa: E402

forge_faults.install_from_env()
