"""The training-time loader: the same streaming pass as `forge check` (forge.data.validate),
returning the normalised conversations of a valid file or raising DataError with every bad line.

Kept apart from forge.data.reader so that the imports run one way: load -> validate -> reader.
"""

from __future__ import annotations

from pathlib import Path

from forge.data.reader import DataError
from forge.data.validate import Conversations, DataReport, scan


def load_split(
    path: str | Path, *, max_chars: int | None = None, display: str | None = None
) -> tuple[Conversations, DataReport]:
    """(conversations, report) of a valid split; `max_chars` cuts huge records (forge.data.bound)
    and `report.cut_lines` names them, path:line, for the log. The conversations know their lines:
    `conversations.where(i)` is "<display or path>:<line>"."""
    report, conversations, _ = scan(Path(path), collect=True, hashes=False, max_chars=max_chars, display=display)
    if not report.ok:
        raise DataError(report.render() if not report.fatal else report.fatal_text(), report, fix=report.fix_text())
    return conversations if conversations is not None else Conversations(report.path), report


def load_conversations(path: str | Path, max_chars: int | None = None, display: str | None = None) -> Conversations:
    """Every conversation of a valid file, normalised; DataError listing every bad line otherwise."""
    return load_split(path, max_chars=max_chars, display=display)[0]
