"""What a run tells people while it works: logs/training.log, the console lines, the progress
display, and the libraries kept quiet so their output does not interleave with forge's."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from forge.status import Status, StatusWriter

LOGGER = "forge.train"
_LIBRARIES = ("transformers", "trl", "peft", "py.warnings")


def open_log(path: Path, console_handler: logging.Handler | None) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")  # flushed per record: tail -f works
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_no_carriage_returns)
    handler._forge = True  # type: ignore[attr-defined]
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    if console_handler is not None:
        console_handler._forge = True  # type: ignore[attr-defined]
        log.addHandler(console_handler)
    # the libraries' warnings belong in the same log
    for name in _LIBRARIES:
        logging.getLogger(name).addHandler(handler)
    logging.captureWarnings(True)
    return log


def _no_carriage_returns(record: logging.LogRecord) -> bool:
    """A library's progress bar logged through logging (`\r`-redrawn text) keeps only its last state
    in logs/training.log: the file is read with `tail -f`, where every redraw would be a line."""
    msg = record.getMessage()
    if "\r" in msg:
        record.msg = "\n".join(line.rsplit("\r", 1)[-1] for line in msg.split("\n"))
        record.args = None
    return True


def close_log(log: logging.Logger) -> None:
    for h in list(log.handlers):
        if getattr(h, "_forge", False):
            log.removeHandler(h)
            for name in _LIBRARIES:
                logging.getLogger(name).removeHandler(h)
            h.close()
    logging.captureWarnings(False)


def quiet_libraries() -> None:
    """Library progress bars would interleave with forge's own progress bar and --json output."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()


def quiet_trainer(trainer):
    """The Trainer prints every log dict to stdout when tqdm is off; forge reports through its own files."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


class NotifyingStatus:
    """The status writer, also telling the progress display about phase changes."""

    def __init__(self, writer: StatusWriter, progress: Callable[[Status], None]):
        self._writer, self._progress = writer, progress

    @property
    def status(self) -> Status:
        return self._writer.status

    def update(self, **changes) -> Status:
        return self._writer.update(**changes)

    def phase(self, phase: str, **changes) -> Status:
        st = self._writer.phase(phase, **changes)
        try:
            self._progress(st)
        except Exception:  # a broken display must never stop training
            pass
        return st
