"""A stand-in training process for the browser tests: writes status and history on command.

Reads lines from stdin: `step N` (log steps up to N), `done`, `fail`; answers `ok` after each,
once the files are written. Run as `python writer.py PROJECT_DIR TOTAL_STEPS`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webfixtures import history_row, loss_at  # noqa: E402

from forge.project import Project  # noqa: E402
from forge.status import StatusWriter  # noqa: E402

SECONDS_PER_STEP = 1.5


def main() -> None:
    project = Project.at(sys.argv[1])
    total = int(sys.argv[2])
    w = StatusWriter(project.status_file, pid=os.getpid(), run_id="live-1", model="builtin:tiny-llama", backend="hf")
    w.phase("loading", started_at="2025-01-03T10:00:00Z", total_steps=total, total_epochs=3)
    print("ok", flush=True)
    last = 0
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "step":
            n = int(cmd[1])
            with open(project.history_file, "a", encoding="utf-8") as f:
                for s in range(last + 1, n + 1):
                    f.write(json.dumps(history_row(s, total)) + "\n")
                    if s % 10 == 0:
                        f.write(json.dumps({"step": s, "eval_loss": round(loss_at(s) * 1.1, 5)}) + "\n")
            last = n
            row = history_row(n, total)
            w.phase(
                "training",
                step=n,
                epoch=row["epoch"],
                loss=row["loss"],
                learning_rate=row["learning_rate"],
                tokens_per_second=row["tokens_per_second"],
                eta_seconds=(total - n) * SECONDS_PER_STEP,
                peak_vram_gb=3.2,
            )
        elif cmd[0] == "done":
            w.phase("done", eta_seconds=0, completed_at="2025-01-03T10:05:00Z")
        elif cmd[0] == "fail":
            w.phase("failed", error="CUDA out of memory (3 retries)", error_kind="oom", solution="use a smaller model")
        print("ok", flush=True)


if __name__ == "__main__":
    main()
