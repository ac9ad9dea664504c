"""`.factory/train.lock`: one training run per project at a time.

The lock is an fcntl.flock on the file, which the kernel drops when the holder dies, so a lock
left behind by a crashed run is taken over without any guessing; the pid written inside is only
there to tell the user who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from forge.errors import EXIT_FAIL, ForgeError


class LockHeld(ForgeError):
    exit_code = EXIT_FAIL
    kind = "locked"


class TrainLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self.previous_pid: int | None = None  # pid of a dead holder whose lock we took over

    def acquire(self) -> TrainLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise LockHeld(
                f"another forge train is running on this project ({who} holds {self.path})",
                f"wait for it to finish (`forge status`), or stop it (kill {holder or '<pid>'}) and rerun with --resume",
            ) from None
        self.previous_pid = _read_pid(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TrainLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 64, 0).decode().strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None
