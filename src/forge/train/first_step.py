"""FirstStepWatch: says in the status and the log that the first step is still running.

The first optimizer steps (and an eval before them) are where torch.compile and Triton build
their kernels. Under Unsloth 2026.10.9 on torch 2.11 that took minutes for Gemma 3, the default
model's family, on an H200 (docs/gpu-validation.md): the status file stood still at step 0 and
a user or an agent could not tell a compile from a hang. While no step has finished, this watch
writes `message` and `extra.first_step_wait_s` every `every` seconds once `after` seconds have
passed, and a log line at the first notice and every few minutes after; the first finished step
(or the end of training) stops it and clears the message it wrote.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from forge.status import StatusWriter

NOTICE_AFTER_S = 60.0
UPDATE_EVERY_S = 30.0
LOG_EVERY_S = 180.0


def wait_message(seconds: float, backend: str | None = None) -> str:
    if backend == "unsloth":
        why = (
            "the first steps compile kernels (Unsloth compiles each decoder block; "
            "for Gemma 3 on torch 2.11 that took minutes)"
        )
    else:  # the hf backend compiles nothing: a first step is slow for its size or the device
        why = "the first step of a large model (or of any model on a CPU) can take this long"
    return (
        f"no training step has finished after {seconds:.0f} s: {why}; "
        f"not a hang while this line keeps updating (every {UPDATE_EVERY_S:.0f} s)"
    )


class FirstStepWatch:
    def __init__(
        self,
        status: StatusWriter,
        log: logging.Logger,
        *,
        after: float = NOTICE_AFTER_S,
        every: float = UPDATE_EVERY_S,
        log_every: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.status, self.log = status, log
        self.after, self.every, self.log_every, self.clock = after, every, log_every, clock
        self._done = threading.Event()
        self._lock = threading.Lock()  # no write of this watch after done() returned
        self._written: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._t0 = self.clock()
        self._thread = threading.Thread(target=self._run, name="forge-first-step-watch", daemon=True)
        self._thread.start()

    def done(self) -> None:
        """The first step finished (or training ended): stop, and take back the message."""
        self._done.set()
        with self._lock:
            if self._written is not None and self.status.status.message == self._written:
                self.status.update(message=None)
            self._written = None

    def _run(self) -> None:
        wait = self.after
        last_log = None
        while not self._done.wait(wait):
            waited = self.clock() - self._t0
            with self._lock:
                # a failed, interrupted or finished run says so itself: never write over it
                if self._done.is_set() or self.status.status.phase not in ("training", "evaluating"):
                    return
                message = wait_message(waited, self.status.status.backend)
                try:
                    self.status.update(message=message, first_step_wait_s=round(waited, 1))
                except OSError:  # a full or vanished disk is the run's to report, not this watch's
                    return
                self._written = message
                if last_log is None or waited - last_log >= self.log_every:
                    self.log.info(message)
                    last_log = waited
            wait = self.every
