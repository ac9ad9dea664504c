"""Assistant answers of a split, and the val answers that train holds word for word (torch-free).

The leakage check (forge.data.hashes) compares whole conversations, so a val example whose
question is new but whose answer is a train answer, copied, passes it: the val loss and the
generation scores then measure how well the model recalls train, not how it answers. `forge
check` reports such answers as a warning with counts and lines (some datasets repeat canned
answers on purpose), and `forge split` keeps them out of train.

An answer is an assistant turn's text, stripped, with a tool call in one canonical form (the
duplicate detector's rule, hashed_content here); it is held as an 8-byte hash with
its line, 16 bytes an answer.
"""

from __future__ import annotations

import hashlib
from array import array

from forge.data.formats import canonical_call


def hashed_content(m: dict[str, str]) -> str:
    """The content as the duplicate detector sees it: a tool call in one canonical form, so that
    a ShareGPT function_call and the same OpenAI tool_calls (or other spacing) are one conversation."""
    content = m["content"]
    if m["role"] == "assistant" and content[:1] in ("{", "["):
        return canonical_call(content) or content
    if m.get("images"):  # the same question about another image is another example
        return content + "\x1d" + "\x1d".join(m["images"])
    return content


def assistant_answers(messages: list[dict]) -> list[str]:
    """The assistant turns' texts, as compared: stripped, tool calls canonical, empty ones left out."""
    out = []
    for m in messages:
        if m.get("role") == "assistant":
            text = hashed_content(m).strip()
            if text:
                out.append(text)
    return out


def answer_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class Answers:
    """Every assistant answer of a split: its hash, the line of its record, and which record."""

    def __init__(self) -> None:
        self.h = array("Q")
        self.lines = array("Q")
        self.records = array("Q")  # the record's index in the split (several answers share one)
        self.count = 0  # records added

    def add(self, messages: list[dict], line: int) -> None:
        for text in assistant_answers(messages):
            self.h.append(answer_hash(text))
            self.lines.append(line)
            self.records.append(self.count)
        self.count += 1

    def found_in(self, train: Answers, cap: int) -> tuple[int, int, list[list[int]]]:
        """(val records with an answer that train holds, such answers, [val line, train line] pairs
        capped at `cap`, in val order). Sorted arrays, not a dict: no Python object per answer."""
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy comes with the ML stack
            return self._found_in_dict(train, cap)
        vh = np.frombuffer(self.h, dtype=np.uint64)
        th = np.frombuffer(train.h, dtype=np.uint64)
        if not len(vh) or not len(th):
            return 0, 0, []
        order = np.argsort(th, kind="stable")  # stable: the first train line of equal answers first
        ts = th[order]
        idx = np.searchsorted(ts, vh).clip(0, len(ts) - 1)
        hit = ts[idx] == vh
        where = np.nonzero(hit)[0]
        records = np.frombuffer(self.records, dtype=np.uint64)[where]
        _, first_of_record = np.unique(records, return_index=True)
        pairs = [
            [int(self.lines[i]), int(train.lines[int(order[idx[i]])])] for i in sorted(where[first_of_record])[:cap]
        ]
        return len(first_of_record), int(hit.sum()), pairs

    def _found_in_dict(self, train: Answers, cap: int) -> tuple[int, int, list[list[int]]]:
        first: dict[int, int] = {}
        for h, line in zip(train.h, train.lines, strict=True):
            first.setdefault(h, line)
        answers, records, pairs = 0, set(), []
        for h, line, record in zip(self.h, self.lines, self.records, strict=True):
            if h in first:
                answers += 1
                if record not in records and len(pairs) < cap:
                    pairs.append([int(line), int(first[h])])
                records.add(record)
        return len(records), answers, pairs
