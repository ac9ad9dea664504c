"""Run a module with its main thread's stack written down every few seconds.

    python -m bench.probes.stacks --every 10 --to STACKS.txt -- -m bench.arm --arm c ...

For an arm that sits for minutes before its first step (Gemma 3 on the lent H200): the samples
say whether the time goes to compilation, a Python loop, the data path or a GPU wait, which a
log that stops printing cannot. Each sample also has the CUDA memory allocated at that moment.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import threading
import time
import traceback


def _sample(main_id: int, every: float, path: str, t0: float) -> None:
    while True:
        time.sleep(every)
        frame = sys._current_frames().get(main_id)
        if frame is None:
            return
        mem = ""
        torch = sys.modules.get("torch")
        try:
            if torch is not None and torch.cuda.is_initialized():
                mem = f" cuda allocated {torch.cuda.memory_allocated() / 1e9:.2f} GB"
        except Exception:  # a sample must never break the run it watches
            pass
        # the innermost frames say what is running; the outer ones are the same every time
        stack = "".join(traceback.format_stack(frame)[-30:])
        with open(path, "a") as f:
            f.write(f"--- t={time.perf_counter() - t0:.0f}s{mem}\n{stack}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--to", required=True)
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    rest = a.rest[1:] if a.rest[:1] == ["--"] else a.rest
    if rest[:1] != ["-m"] or len(rest) < 2:
        raise SystemExit("usage: python -m bench.probes.stacks --to F -- -m MODULE [args]")
    threading.Thread(
        target=_sample, args=(threading.main_thread().ident, a.every, a.to, time.perf_counter()), daemon=True
    ).start()
    sys.argv = [rest[1], *rest[2:]]
    runpy.run_module(rest[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
