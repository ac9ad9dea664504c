"""Is a process still there? The one answer the status, the lock and the launcher share (torch-free)."""

from __future__ import annotations

import os

# pid_t is a signed 32-bit int: a larger number names no process (os.kill would overflow on it).
PID_MAX = 2**31 - 1


def pid_alive(pid: int | None) -> bool:
    """True while `pid` runs (another user's process counts); a zombie or an absent pid is gone.

    Anything but a positive int in pid_t's range is no process: the pid comes from files other
    programs can write, and kill(0 or negative) would ask about whole process groups instead."""
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) holds no lock and writes no status
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): kill(0) is the answer


def process_space() -> str:
    """Which pids this process can see: the host's name and its pid namespace (Linux).

    A pid in a status file means something only to a reader in the same space: a run in a
    container writing to a mounted project has pids the host cannot look up. Where the writer's
    space is the reader's, a dead pid is a dead writer, at once; elsewhere readers wait for the
    file to go stale (forge.status)."""
    import socket

    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""  # no /proc (macOS): the host's name alone
    return f"{socket.gethostname()} {namespace}".strip()


def parent_pid(pid: int) -> int | None:
    """The parent of `pid` (Linux /proc); None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def descends_from(pid: int, ancestor: int, depth: int = 6) -> bool:
    """Whether `pid` is `ancestor` or one of its descendants within `depth` generations: the rank 0
    that holds the lock of a data-parallel `forge train --detach` is a grandchild of the process
    that the detach started (launcher -> torchrun -> rank)."""
    for _ in range(depth + 1):
        if pid == ancestor:
            return True
        pid = parent_pid(pid) or 0
        if pid <= 1:
            return False
    return False
