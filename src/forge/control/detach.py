"""`forge train --detach`: the run in a process session of its own, outliving its caller (torch-free).

Agents run shell commands under a time limit and kill what outlives it; a terminal sends SIGHUP to
its session when it closes. The detached `forge train` is started with `start_new_session=True`,
stdin from /dev/null and its stdout and stderr appended to logs/training.log, so neither reaches
it. It is the same `forge train` command line (minus --detach and --json), so every option works
as it does in the foreground: --gpus/--nproc (it is the launcher), --resume, --force.

The caller returns once the run holds the project lock and has passed its checks (its status left
`validating`: the data, the template, the resolver's memory and size refusals, the start point),
so that what `forge check` would refuse is refused here, with train's own exit code and words
(read back from the status the run recorded). A lock already held is refused before anything
starts. A run that fails later says so in its status, as a foreground run does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from forge.errors import EXIT_FAIL, ForgeError
from forge.project import Project

DETACHED_ENV = "FORGE_DETACHED"  # set in the detached run: its console lines would repeat the log's
START_TIMEOUT = 180.0  # the longest the caller waits for the checks; the run goes on after it
_OWN_FLAGS = ("--detach", "--json")


def child_argv(argv: list[str]) -> list[str]:
    """The user's `train ...` arguments without the caller's own flags (the run prints to its log)."""
    return [a for a in argv if a not in _OWN_FLAGS]


def start_detached(project: Project, argv: list[str], timeout: float = START_TIMEOUT) -> dict[str, Any]:
    """Start `forge <argv>` detached; the document `forge train --detach --json` prints.

    `argv`: the `forge` arguments, `train` first, as the user gave them (relative paths are read
    from this process's folder, which the run inherits)."""
    from forge.lock import TrainLock

    if not argv or argv[0] != "train":
        raise ForgeError("detach needs the `forge train` command line", "run `forge train DIR --detach`", exit_code=2)
    TrainLock(project.lock_file).acquire().release()  # a running train: refused now, the same words
    project.log_file.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(project.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "forge", *child_argv(argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own session: no SIGHUP, no Ctrl-C, no kill of the caller's group
            env={**os.environ, DETACHED_ENV: "1"},
        )
    finally:
        os.close(log)
    started = _await_start(project, proc, timeout, time.time())
    _reap_later(proc)
    return started


def _await_start(project: Project, proc: subprocess.Popen, timeout: float, t0: float) -> dict[str, Any]:
    from forge.lock import holder
    from forge.processes import descends_from
    from forge.status import read_status

    deadline = time.monotonic() + timeout
    while True:
        rc = proc.poll()
        st = read_status(project.status_file)
        held = holder(project)
        ours = held is not None and held[1] == "train" and descends_from(held[0], proc.pid)
        if rc is not None:
            return _ended_early(project, proc, rc, t0)
        if ours and st.pid == held[0] and st.running and st.phase != "validating":
            return document(project, proc.pid, st)
        if time.monotonic() >= deadline:  # still checking (a large dataset): it goes on, detached
            return document(project, proc.pid, st if ours and st.pid == held[0] else None)
        time.sleep(0.1)


def _ended_early(project: Project, proc: subprocess.Popen, rc: int, t0: float) -> dict[str, Any]:
    """The run ended before the caller returned: a refusal (its status says which, in train's
    words) is raised with train's exit code; a run already done (a tiny one) is reported."""
    from forge.clock import parse_time
    from forge.status import read_status
    from forge.web.readers import tail_lines

    st = read_status(project.status_file)
    written = parse_time(st.last_updated)
    # the status this run wrote (a rank's under --nproc has the rank's pid): written since the start
    mine = st.pid == proc.pid or (written is not None and written.timestamp() >= int(t0) - 1)
    if rc == 0 and st.phase == "done":
        return document(project, proc.pid, st)
    if mine and st.phase in ("failed", "interrupted") and st.error:
        raise ForgeError(st.error, st.solution, exit_code=rc or EXIT_FAIL, kind=st.error_kind or "internal")
    tail = " | ".join(line.strip() for line in tail_lines(project.log_file, 5) if line.strip())
    raise ForgeError(
        f"forge train exited with {rc} before it started" + (f": {tail}" if tail else ""),
        f"see {project.rel(project.log_file)}; `forge check` lists what is not ready",
        exit_code=rc or EXIT_FAIL,
    )


def document(project: Project, pid: int, st) -> dict[str, Any]:
    return {
        "ok": True,
        "detached": True,
        "project": str(project.root),
        "run_id": st.run_id if st is not None else None,
        "pid": pid,
        "phase": st.phase if st is not None else "starting",
        "log": str(project.log_file),
        "status": str(project.status_file),
    }


def _reap_later(proc: subprocess.Popen) -> None:
    """A caller that lives on (the MCP server) collects the run's exit, leaving no zombie."""
    import threading

    threading.Thread(target=proc.wait, name=f"forge-detached-{proc.pid}", daemon=True).start()
