"""Plain progress lines for a verb whose output is not a terminal (CI, nohup, an agent) (torch-free, core).

QA (issue 28): with stdout piped, `forge train` said nothing for 771 s and `forge baseline` for
461 s; progress went only to the log. Under `Heartbeat` a verb prints one plain line at a steady
interval, whatever it is doing (loading, a long eval, a merge):

    [12:03:10] forge train: training step 45/100 (45%), loss 0.4523, 1,234 tok/s, ETA 12m 30s, 5m 02s elapsed

The interval is FORGE_PROGRESS_SECONDS (default 60; 0 turns the lines off). The verb tells the
heartbeat what it knows: `update(...)` from its own callback (train's status, export's steps), or
`report(...)` from deep inside a wing (the scoring loops of baseline and evaluate), which reaches
the heartbeat of this process if one runs and costs nothing otherwise. A terminal has its own
display (the progress bar), so `for_output` gives no heartbeat there.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

ENV = "FORGE_PROGRESS_SECONDS"
DEFAULT_SECONDS = 60.0
_ACTIVE: list[Heartbeat] = []  # the heartbeat of this process, while one runs


def interval_seconds() -> float:
    """FORGE_PROGRESS_SECONDS as a number of seconds (a bad value: the default)."""
    try:
        value = float(os.environ.get(ENV, DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS
    return value if value >= 0 else DEFAULT_SECONDS


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{s}s"


class Heartbeat:
    """A daemon thread printing the verb's latest state every `interval` seconds to `out`."""

    def __init__(self, verb: str, out: TextIO | None = None, interval: float | None = None):
        self.verb = verb
        self.out = out if out is not None else sys.stdout
        self.interval = interval_seconds() if interval is None else interval
        self.state: dict[str, Any] = {}
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, **state: Any) -> None:
        self.state.update({k: v for k, v in state.items() if v is not None})

    def update_status(self, st: Any) -> None:
        """train's progress callback: its live status (forge.status.Status)."""
        self.update(
            phase=st.phase,
            step=st.step,
            total=st.total_steps or None,
            loss=st.loss,
            tokens_per_second=getattr(st, "tokens_per_second", None),
            eta_seconds=st.eta_seconds,
        )

    def line(self) -> str:
        s = self.state
        parts = [str(s["phase"])] if s.get("phase") else []
        what = s.get("what")
        if what:
            parts.append(str(what))
        if s.get("total"):
            done = int(s.get("step") or 0)
            parts.append(f"{s.get('unit', 'step')} {done}/{s['total']} ({100 * done // max(int(s['total']), 1)}%)")
        elif s.get("step"):
            parts.append(f"{s.get('unit', 'step')} {s['step']}")
        if isinstance(s.get("loss"), (int, float)):
            parts.append(f"loss {s['loss']:.4f}")
        if isinstance(s.get("tokens_per_second"), (int, float)):
            parts.append(f"{s['tokens_per_second']:,.0f} tok/s")
        if isinstance(s.get("eta_seconds"), (int, float)):
            parts.append(f"ETA {duration(s['eta_seconds'])}")
        parts.append(f"{duration(time.monotonic() - self.started)} elapsed")
        return f"[{time.strftime('%H:%M:%S')}] forge {self.verb}: {', '.join(parts)}"

    def beat(self) -> None:
        try:
            self.out.write(self.line() + "\n")
            self.out.flush()
        except (OSError, ValueError):  # the reader went away: the verb goes on without its lines
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name=f"forge-{self.verb}-progress", daemon=True)
            self._thread.start()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._thread is not None:
            self._thread.join(timeout=2)


class _Silent:
    """for_output's answer on a terminal: the same calls, no lines."""

    def update(self, **state: Any) -> None:
        pass

    def update_status(self, st: Any) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def for_output(verb: str, json_out: bool = False) -> Heartbeat | _Silent:
    """A heartbeat when stdout is not a terminal (on stderr with --json: stdout is the answer's)."""
    if sys.stdout.isatty():
        return _Silent()
    return Heartbeat(verb, sys.stderr if json_out else sys.stdout)


def report(**state: Any) -> None:
    """What a wing is doing now (e.g. `report(what="val loss", step=3, total=12, unit="batch")`),
    for the heartbeat of this process if one runs."""
    for hb in _ACTIVE:
        hb.update(**state)
