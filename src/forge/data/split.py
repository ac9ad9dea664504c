"""`forge split DIR --from FILE`: train and val splits from one file in any accepted format (torch-free).

1. The file is validated as `forge check` validates a split (forge.data.validate): a bad record
   refuses the split with every bad line named, so nothing half-read is written.
2. Exact duplicates (the same conversation once normalised: the duplicate detector's rule,
   forge.data.hashes) are dropped; the first copy is kept.
3. Val answers stay out of train: conversations that share an assistant answer (word for word,
   forge.data.answers) are one group, and a group goes whole to train or to val. Groups are shuffled
   with the seed and val is filled with whole groups up to the fraction asked; a group larger than
   the room left (a canned answer repeated on purpose) stays in train. Nothing but duplicates is
   dropped, so val can come out a little smaller than asked: the report says how large it is.
4. Each record is written as it was read (its format, its keys), one JSON object a line, to
   data/splits/train.jsonl and val.jsonl, atomically. Existing splits are replaced only with `force`.
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from forge.data.answers import assistant_answers
from forge.data.formats import normalize
from forge.data.hashes import conversation_digest
from forge.data.reader import DataError, RecordReader
from forge.data.validate import validate_file
from forge.errors import EXIT_USAGE, ForgeError
from forge.lock import writes_project
from forge.project import Project

MAX_LISTED = 50


@dataclass
class SplitReport:
    source: str
    format: str | None
    records: int  # valid records read
    duplicates: int  # dropped: the same conversation as an earlier record
    # each dropped copy and the first copy it repeats: {"line", "item", "first_line", "first_item"}
    # ("item": the JSON array's item number, None in JSONL, where a line is a record), capped
    duplicates_listed: list[dict]
    train: int
    val: int
    val_fraction_asked: float
    val_fraction: float  # of the records kept
    seed: int
    answer_groups: int  # groups of more than one conversation sharing an answer
    grouped_records: int  # conversations in such groups (kept together)
    too_large_for_val: int  # conversations of groups larger than val's room: train only
    written: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"ok": True, **asdict(self)}


def _usage(message: str, fix: str) -> ForgeError:
    return ForgeError(message, fix, exit_code=EXIT_USAGE, kind="usage")


def check_request(project: Project, source: Path, val_fraction: float, force: bool, seed: int = 0) -> None:
    """Every refusal before the file is read: a bad fraction, no such file, splits already there."""
    if not 0 < val_fraction < 1:
        raise _usage(f"--val-fraction is {val_fraction!r}; it must be between 0 and 1", "e.g. --val-fraction 0.1")
    if not source.is_file():
        raise _usage(f"--from {source}: no such file", "pass the path of one JSONL or JSON file of conversations")
    there = [p for p in (project.train_file, project.val_file) if p.exists()]
    if there and not force:
        names = ", ".join(project.rel(p) for p in there)
        again = f"`forge split --from {shlex.quote(str(source))} --val-fraction {val_fraction} --seed {seed} --force`"
        raise _usage(f"{names} already there: forge split does not overwrite splits", f"{again} replaces them")


def _records(source: Path, display: str) -> tuple[list[tuple[tuple, object, list[dict]]], str | None]:
    """((line, item), the record as read, its messages) of every record, once validate_file passed it."""
    report = validate_file(source, MAX_LISTED, display=display)
    if not report.ok:
        raise DataError(report.render() if not report.fatal else report.fatal_text(), report)
    out = []
    for item in RecordReader(source):
        if item.kind is None:
            n = normalize(item.value)
            if n.messages is not None:
                out.append(((item.line, item.item), item.value, n.messages))
    return out, report.format


def _groups(records: list[tuple[tuple, object, list[dict]]]) -> list[list[int]]:
    """Indexes of records, grouped where they share an assistant answer (union-find)."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, (_, _, messages) in enumerate(records):
        for answer in assistant_answers(messages):
            j = owner.setdefault(answer, i)
            if j != i:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


@writes_project("split")  # one writer per project (forge.lock)
def split_file(project: Project, source: Path, val_fraction: float = 0.1, seed: int = 0, force: bool = False):
    """Write the project's train and val splits from `source`; the SplitReport of what was done."""
    source = Path(source)
    check_request(project, source, val_fraction, force, seed)
    display = str(source)
    read, fmt = _records(source, display)
    kept, first, dups = [], {}, []
    for rec in read:
        digest = conversation_digest(rec[2])
        if digest in first:
            if len(dups) < MAX_LISTED:
                (line, item), (first_line, first_item) = rec[0], first[digest]
                dups.append({"line": line, "item": item, "first_line": first_line, "first_item": first_item})
            continue
        first[digest] = rec[0]
        kept.append(rec)
    if len(kept) < 2:
        raise DataError(f"{display}: {len(kept)} distinct conversation(s); a split needs at least 2")
    groups = _groups(kept)
    random.Random(seed).shuffle(groups)
    room = max(1, round(val_fraction * len(kept)))
    val_idx: set[int] = set()
    for g in groups:
        if len(val_idx) + len(g) <= room:
            val_idx.update(g)
    too_large = sum(len(g) for g in groups if len(g) > room)
    train_rows = [r for i, r in enumerate(kept) if i not in val_idx]
    val_rows = [r for i, r in enumerate(kept) if i in val_idx]
    if not val_rows or not train_rows:
        raise DataError(
            f"{display}: every conversation shares an answer with the others, so no val split can keep its "
            "answers out of train",
            fix="add conversations with answers of their own, or make the val split by hand",
        )
    big = [g for g in groups if len(g) > 1]
    report = SplitReport(
        source=display,
        format=fmt,
        records=len(read),
        duplicates=len(read) - len(kept),
        duplicates_listed=dups,
        train=len(train_rows),
        val=len(val_rows),
        val_fraction_asked=val_fraction,
        val_fraction=round(len(val_rows) / len(kept), 4),
        seed=seed,
        answer_groups=len(big),
        grouped_records=sum(len(g) for g in big),
        too_large_for_val=too_large,
    )
    from forge.files import atomic_write_text

    for path, rows in ((project.train_file, train_rows), (project.val_file, val_rows)):
        if path.exists():
            report.replaced.append(project.rel(path))
        atomic_write_text(path, "".join(json.dumps(value, ensure_ascii=False) + "\n" for _, value, _ in rows))
        report.written.append(project.rel(path))
    return report
