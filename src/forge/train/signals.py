"""SIGINT/SIGTERM during a run: ask the trainer to stop after the current step and checkpoint.

The handler only records the request; the callback acts on it at the next step boundary, so the
optimizer step in flight finishes and the checkpoint is consistent. A second signal means "now":
it raises KeyboardInterrupt (the newest complete checkpoint is still there to resume from).
"""

from __future__ import annotations

import signal

from forge.errors import EXIT_SIGINT, EXIT_SIGTERM

EXIT_CODES = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}


class StopRequest:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, EXIT_SIGTERM)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping now")
        self.signum = signum

    def install(self) -> StopRequest:
        for sig in EXIT_CODES:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. called from a web worker): no handlers
                pass
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
