"""The project lock (`.factory/train.lock`): one writing verb per project at a time (torch-free).

    with project_lock(project, "export"):
        ...  # nothing else writes the project meanwhile

    @writes_project("baseline")          # the same, around a wing's entry point
    def compute_baseline(project, ...): ...

Every verb that writes the project takes it: train, export, baseline, evaluate, `plan --write`,
init (and demo around them). Readers (status, ui, verify, check) never do: they read files that
are replaced atomically, so they need no lock and must keep working while a run holds it.

The lock is an fcntl.flock on the file, which the kernel drops when the holder dies, so a lock
left behind by a crashed or killed verb is taken over without any guessing about pids; the
`PID VERB` line written inside is only there to tell the user who holds it. The file keeps its
old name (train was its first user) so that tools and projects that know it keep working.

Within one process the lock is re-entrant: `forge demo` holds it around init, baseline, train,
evaluate and export, each of which takes it again (a second flock on a new descriptor would be
refused by the process's own first one).
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from forge.errors import EXIT_FAIL, ForgeError
from forge.processes import pid_alive

LOCK_NAME = "train.lock"
F = TypeVar("F", bound=Callable[..., Any])


class LockHeld(ForgeError):
    exit_code = EXIT_FAIL
    kind = "locked"


# path -> [fd, depth] of the locks this process holds (see the module docstring: re-entrancy)
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()


class ProjectLock:
    """The lock on one lock file; `verb` is what the holder line names (None: the pid alone)."""

    def __init__(self, path: Path, verb: str | None = None):
        self.path = Path(path)
        self.verb = verb
        self.previous_pid: int | None = None  # pid of a dead holder whose lock we took over
        self.previous_verb: str | None = None
        self._key = os.path.realpath(self.path)
        self._acquired = False

    def acquire(self) -> ProjectLock:
        with _HELD_GUARD:
            held = _HELD.get(self._key)
            if held is not None:  # this process holds it already: nest
                held[1] += 1
                self._acquired = True
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid, verb = read_holder(fd)
                os.close(fd)
                raise self._refusal(pid, verb) from None
            except BaseException:
                os.close(fd)
                raise
            # an old line left in the file is a holder that died without releasing (the kernel
            # dropped its flock): say whose lock was taken over, then write ours
            self.previous_pid, self.previous_verb = read_holder(fd)
            line = f"{os.getpid()}\n" if self.verb is None else f"{os.getpid()} {self.verb}\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, line.encode(), 0)
            os.fsync(fd)
            _HELD[self._key] = [fd, 1]
            self._acquired = True
            return self

    def release(self) -> None:
        with _HELD_GUARD:
            if not self._acquired:
                return
            self._acquired = False
            held = _HELD.get(self._key)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del _HELD[self._key]
            fd = held[0]
            try:
                os.ftruncate(fd, 0)  # an empty file: nobody holds it
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _refusal(self, pid: int | None, verb: str | None) -> LockHeld:
        holder = f"forge {verb}" if verb else "another forge process"
        who = f"{holder} (pid {pid})" if pid else holder
        asking = self.verb or getattr(self, "asking", None)
        mine = f"forge {asking}" if asking else "this forge process"
        stop = f"kill {pid}" if pid else "stop it"
        fix = f"wait for it to finish (`forge status` shows a run), or stop it ({stop})"
        if verb in (None, "train"):
            fix += " and rerun with --resume"
        return LockHeld(
            f"{mine} refused: {who} is writing this project (it holds {self.path})",
            f"{fix}; readers (status, ui, verify, check) work meanwhile",
        )

    def __enter__(self) -> ProjectLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class TrainLock(ProjectLock):
    """The lock as `forge train` took it before every verb did (a pid-only holder line)."""

    def __init__(self, path: Path):
        super().__init__(path, None)
        self.asking = "train"  # what a refusal names as the refused verb


def lock_path(project) -> Path:
    """The lock file of a Project, or of a project folder given as a path."""
    factory = getattr(project, "factory_dir", None)
    return Path(factory if factory is not None else Path(project) / ".factory") / LOCK_NAME


@contextmanager
def project_lock(project, verb: str) -> Iterator[ProjectLock]:
    """Hold the project's lock for `verb`; LockHeld (exit 1, naming the holder) if another holds it."""
    lock = ProjectLock(lock_path(project), verb).acquire()
    try:
        yield lock
    finally:
        lock.release()


def writes_project(verb: str) -> Callable[[F], F]:
    """Decorate a wing's entry whose first argument is the Project (or its folder): the call runs
    under the project lock. A folder that does not exist yet has nothing to protect (init makes it)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def locked(project, *args, **kwargs):
            is_project = hasattr(project, "factory_dir")  # a Project; else a folder (Path.root is "/")
            root = Path(project.root if is_project else project)
            if not root.is_dir():
                return fn(project, *args, **kwargs)
            with project_lock(project if is_project else root, verb):
                return fn(project, *args, **kwargs)

        return locked  # type: ignore[return-value]

    return wrap


def holder(project) -> tuple[int, str | None] | None:
    """(pid, verb) of the live holder of the project's lock, or None: for readers, which never lock.

    It reads the holder line and asks whether that pid lives; it does not try the flock itself,
    since even a brief shared lock would refuse a writer starting at that moment."""
    try:
        fd = os.open(lock_path(project), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        pid, verb = read_holder(fd)
    finally:
        os.close(fd)
    if not pid:
        return None
    if not pid_alive(pid):
        return None  # a dead holder's line: the next writer takes the lock over
    return pid, verb


def read_holder(fd: int) -> tuple[int | None, str | None]:
    """The `PID [VERB]` line of a lock file (None, None when empty or unreadable)."""
    try:
        fields = os.pread(fd, 128, 0).decode().split()
        pid = int(fields[0]) if fields else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None, None
    return pid, (" ".join(fields[1:]) if len(fields) > 1 else None)
