"""Streaming reader: a JSONL file or one JSON array -> (line number, parsed value | error).

PLACEHOLDER (foundation): the data-validation work replaces this with a bounded-memory reader of
JSON arrays and the full line-numbered report.
"""

from __future__ import annotations

import json
from pathlib import Path

from forge.data.formats import normalize
from forge.errors import EXIT_USAGE, ForgeError


class DataError(ForgeError):
    """Bad training data: carries the report that says which lines and why."""

    exit_code = EXIT_USAGE
    kind = "data"

    def __init__(self, message: str, report=None, fix: str | None = None):
        super().__init__(message, fix or "fix or remove the lines named above; `forge check` lists every problem")
        self.report = report


def load_conversations(path: Path) -> list[list[dict[str, str]]]:
    """Every conversation of a valid file, normalised; DataError if any line is bad."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    rows: list[tuple[int, object]] = []
    if stripped.startswith("["):
        rows = list(enumerate(json.loads(stripped), start=1))
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((i, json.loads(line)))
    out = []
    for line, obj in rows:
        n = normalize(obj)
        if n.messages is None:
            kind, msg = n.problems[0]
            raise DataError(f"{path}:{line}: {msg}")
        out.append(n.messages)
    return out
