"""What normalising one record gives (messages, or the problems that stop it), and the bounded
wording every reader's messages use for the values they quote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Normalized:
    messages: list[dict[str, str]] | None
    format: str | None = None  # sharegpt | messages | alpaca
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    conversions: list[str] = field(default_factory=list)  # names of the rules applied (one per turn/row)


def short(value: Any, limit: int = 40) -> str:
    """A bounded, never-recursing description of a JSON value for messages."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "...")
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value) if not isinstance(value, int) or abs(value) < 10**20 else "a large number"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)


def one_per_kind(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A record's problems, one per kind: the first message, and how many more of that kind."""
    found: dict[str, list[str]] = {}
    for kind, msg in problems:
        found.setdefault(kind, []).append(msg)
    return [(k, m[0] + (f" (and {len(m) - 1} more)" if len(m) > 1 else "")) for k, m in found.items()]
