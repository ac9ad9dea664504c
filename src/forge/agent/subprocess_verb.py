"""The verbs that load the ML stack, run as `forge VERB ... --json` in a child process (torch-free here).

check, plan, baseline, evaluate, export, verify, inspect and chat import torch and transformers,
load tokenizers or whole models, and take minutes (baseline, evaluate, export). In a child process:
- the server stays small and answers other tools meanwhile; a crash, an OOM kill or a leak of a
  model load ends the child, not the server;
- `forge stop` can stop a baseline, evaluate or export the way it stops one started from a shell:
  the child holds the project lock, so SIGTERM reaches it and not the server;
- the result is the verb's own `--json` document and exit code, byte for byte.
While it runs, a progress notification goes out every second (seconds elapsed, and the newest line
the verb printed on stderr) to a client that asked for progress. A cancelled call sends SIGTERM to
the child, which stops as it would on the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HEARTBEAT_S = 1.0


async def run_verb(argv: list[str], cwd: Path, report=None) -> tuple[int, Any, str]:
    """(exit code, the parsed --json document or None, stderr's text) of `forge ARGV --json`."""
    import anyio
    from anyio.streams.text import TextReceiveStream

    cmd = [sys.executable, "-m", "forge", *argv, "--json"]
    out: list[str] = []
    err: list[str] = []
    last = {"line": ""}
    t0 = time.monotonic()
    # stdin from /dev/null: the protocol's stdin is the server's, never a verb's
    process = await anyio.open_process(cmd, cwd=str(cwd), env=dict(os.environ), stdin=subprocess.DEVNULL)
    try:

        async def read_out() -> None:
            async for chunk in TextReceiveStream(process.stdout):
                out.append(chunk)

        async def read_err() -> None:
            async for chunk in TextReceiveStream(process.stderr):
                err.append(chunk)
                lines = [line.strip() for line in chunk.splitlines() if line.strip()]
                if lines:
                    last["line"] = lines[-1][:200]

        async def beat() -> None:
            while True:
                await anyio.sleep(HEARTBEAT_S)
                if report is not None:
                    await report(round(time.monotonic() - t0, 1), None, last["line"] or f"forge {argv[0]} running")

        async with anyio.create_task_group() as tg:
            tg.start_soon(beat)
            async with anyio.create_task_group() as readers:  # both end when the child closes its pipes
                readers.start_soon(read_out)
                readers.start_soon(read_err)
            code = await process.wait()
            tg.cancel_scope.cancel()
    finally:
        if process.returncode is None:  # the call was cancelled: stop the verb as a shell would
            process.terminate()
            with anyio.move_on_after(30, shield=True):
                await process.wait()
    text = "".join(out)
    try:
        doc = json.loads(text) if text.strip() else None
    except ValueError:
        doc = None
    return code, doc, "".join(err)
