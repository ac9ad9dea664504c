"""Two test modules of one name (tests/unit/x.py and tests/slow/x.py) stop pytest's collection
("import file mismatch") and so the whole CI run: it happened twice in one session."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert not [n for n, c in names.items() if c > 1], sorted(n for n, c in names.items() if c > 1)
