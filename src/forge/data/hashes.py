"""The duplicate and leakage index of a split (torch-free): an 8-byte BLAKE2b hash of each valid
record's normalised conversation, with its line (16 bytes a row; 24 in a JSON array, which keeps
the item numbers too: an array written by `json.dump` is all on line 1).

A ShareGPT row and the same conversation in OpenAI form hash alike, and a tool call is hashed in one
canonical form. forge.data.validate fills it during its one pass and asks it for the report's pairs.
"""

from __future__ import annotations

import hashlib
from array import array

from forge.data.answers import Answers, hashed_content


def conversation_digest(messages: list[dict[str, str]]) -> bytes:
    """8 bytes that stand for a normalised conversation: equal for duplicates, whatever the format."""
    text = "\x1e".join(m["role"] + "\x1f" + hashed_content(m) for m in messages)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


class Hashes:
    """8-byte hashes of normalised conversations, with their lines: 16 bytes a row (24 in a JSON
    array, whose item numbers are kept too: its rows are all on line 1 when `json.dump` wrote it).

    `duplicates` and `leaked_from` answer (count, [line, line] pairs, [item, item] pairs or None
    where neither file is an array); the pairs are capped, the count is exact."""

    def __init__(self) -> None:
        self.h = array("Q")
        self.lines = array("Q")
        self.items = array("Q")  # parallel to h in a JSON array, empty in JSONL
        self.answers = Answers()  # each assistant answer, for val answers found in train (forge.data.answers)

    def add(self, messages: list[dict[str, str]], line: int, item: int | None = None) -> None:
        digest = conversation_digest(messages)
        self.answers.add(messages, line)
        self.h.append(int.from_bytes(digest, "little"))
        self.lines.append(line)
        if item is not None:
            self.items.append(item)

    def item(self, pos: int) -> int | None:
        return int(self.items[pos]) if pos < len(self.items) else None

    def duplicates(self, cap: int) -> tuple[int, list[list[int]], list[list[int]] | None]:
        count, pairs = self._duplicate_pairs(cap)
        return (count, *_named(pairs, self, self))

    def leaked_from(self, train: Hashes, cap: int) -> tuple[int, list[list[int]], list[list[int | None]] | None]:
        count, pairs = self._leak_pairs(train, cap)
        return (count, *_named(pairs, self, train))

    def _duplicate_pairs(self, cap: int) -> tuple[int, list[tuple[int, int]]]:
        """(count, [(row, row of the first copy)]): positions in the index, in file order."""
        first: dict[int, int] = {}
        found: list[tuple[int, int]] = []
        count = 0
        for pos, h in enumerate(self.h):
            if h in first:
                count += 1
                if len(found) < cap:
                    found.append((pos, first[h]))
            else:
                first[h] = pos
        return count, found

    def _leak_pairs(self, train: Hashes, cap: int) -> tuple[int, list[tuple[int, int]]]:
        """(count, [(val row, first train row with it)]), in val order."""
        mine: dict[int, list[int]] = {}
        for pos, h in enumerate(self.h):
            mine.setdefault(h, []).append(pos)
        hits: list[tuple[int, int]] = []
        seen = set()
        for tpos, h in enumerate(train.h):
            if h in mine and h not in seen:
                seen.add(h)
                hits.extend((vpos, tpos) for vpos in mine[h])
        hits.sort()
        return len(hits), hits[:cap]


def _named(
    pairs: list[tuple[int, int]], first: Hashes, second: Hashes
) -> tuple[list[list[int]], list[list[int | None]] | None]:
    """Positions -> [line, line] pairs, and [item, item] pairs where either index is of a JSON array."""
    lines = [[int(first.lines[a]), int(second.lines[b])] for a, b in pairs]
    if not first.items and not second.items:
        return lines, None
    return lines, [[first.item(a), second.item(b)] for a, b in pairs]


class NumpyHashes(Hashes):
    """The same answers with numpy (sorting instead of a dict): no per-row Python objects."""

    def _duplicate_pairs(self, cap: int) -> tuple[int, list[tuple[int, int]]]:
        import numpy as np

        h = np.frombuffer(self.h, dtype=np.uint64)
        if len(h) < 2:
            return 0, []
        order = np.argsort(h, kind="stable")
        hs = h[order]
        same = hs[1:] == hs[:-1]
        count = int(same.sum())
        if not count:
            return 0, []
        starts = np.concatenate(([True], ~same))
        group_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(h)), 0))]
        dup_pos = order[1:][same]
        first_pos = group_first[1:][same]
        sel = np.argsort(dup_pos, kind="stable")[:cap]
        return count, [(int(dup_pos[i]), int(first_pos[i])) for i in sel]

    def _leak_pairs(self, train: Hashes, cap: int) -> tuple[int, list[tuple[int, int]]]:
        import numpy as np

        vh = np.frombuffer(self.h, dtype=np.uint64)
        th = np.frombuffer(train.h, dtype=np.uint64)
        if not len(vh) or not len(th):
            return 0, []
        order = np.argsort(th, kind="stable")
        ts = th[order]
        idx = np.searchsorted(ts, vh).clip(0, len(ts) - 1)
        hit = ts[idx] == vh
        count = int(hit.sum())
        where = np.nonzero(hit)[0][:cap]
        return count, [(int(i), int(order[idx[i]])) for i in where]


def new_hashes() -> Hashes:
    try:
        import numpy  # noqa: F401
    except ImportError:  # pragma: no cover - numpy comes with the ML stack
        return Hashes()
    return NumpyHashes()
