"""Run a module with its main thread's stack written down every few seconds.

    python -m bench.probes.stacks --every 10 --to STACKS.txt -- -m bench.arm --arm c ...

For an arm that sits for minutes before its first step (Gemma 3 on the lent H200): the samples
say whether the time goes to compilation, a Python loop, the data path or a GPU wait, which a
log that stops printing cannot. Each sample also has the CUDA memory allocated at that moment and
how many compile workers Inductor has: the samples of 2026-12-01 showed every Triton kernel built
in the main process, one after another, and whether that is Unsloth's single-worker rule
(forge.train.backends.compile_workers) or a pool that never came up is what the header and the
worker count tell apart.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading
import time
import traceback

_ENV = ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "TORCHINDUCTOR_COMPILE_THREADS",
        "UNSLOTH_FORCE_SINGLE_COMPILE_WORKER", "UNSLOTH_COMPILE_DISABLE", "FORGE_COMPILE_WORKERS")  # fmt: skip


def _descendants(pid: int) -> int:
    """Processes below pid (Inductor's SubprocPool sidecar and its workers are grandchildren)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    count, todo = 0, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            count += 1
            todo.append(child)
    return count


def _compile_state() -> str:
    """Inductor's compile_threads as the process sees it now, and the processes below it."""
    config = getattr(sys.modules.get("torch._inductor.config"), "compile_threads", "unset")
    env = os.environ.get("TORCHINDUCTOR_COMPILE_THREADS", "unset")
    try:
        below = _descendants(os.getpid())
    except OSError:
        below = -1
    return f" compile_threads config={config} env={env} processes below={below}"


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
        try:
            state = _compile_state()
        except Exception:  # noqa: BLE001  as above
            state = ""
        with open(path, "a") as f:
            f.write(f"--- t={time.perf_counter() - t0:.0f}s{mem}{state}\n{stack}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--to", required=True)
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    rest = a.rest[1:] if a.rest[:1] == ["--"] else a.rest
    if rest[:1] != ["-m"] or len(rest) < 2:
        raise SystemExit("usage: python -m bench.probes.stacks --to F -- -m MODULE [args]")
    with open(a.to, "a") as f:  # the settings that decide the compile worker count, as inherited
        f.write("env " + " ".join(f"{k}={os.environ.get(k, 'unset')}" for k in _ENV) + f" cpus={os.cpu_count()}\n")
    threading.Thread(
        target=_sample, args=(threading.main_thread().ident, a.every, a.to, time.perf_counter()), daemon=True
    ).start()
    sys.argv = [rest[1], *rest[2:]]
    runpy.run_module(rest[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
