"""Line-numbered validation report of a dataset file, in one streaming pass (torch-free).

Every problem is `path:line: what is wrong`. Blocking kinds make a record unusable (and the report
not ok); tolerated kinds (blank lines, a BOM) are warnings: counted and listed, never blocking.
Counts are always exact; only the listed lines are capped. Duplicates and train/val leakage are
found from an 8-byte hash of each normalised conversation (forge.data.hashes).
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from forge.data.bound import conversation_chars, cut_conversation
from forge.data.formats import normalize
from forge.data.hashes import Hashes, new_hashes
from forge.data.image_files import IMAGE_FIXES, ImageChecker
from forge.data.reader import FileUnreadable, RecordReader

WARNING_KINDS = ("blank_line", "bom")

# kind -> the fix a user can apply (docs/data-formats.md lists the same)
FIXES = {
    "bad_json": "make the line one complete JSON object (check quotes, commas and brackets)",
    "too_deep": "the record nests lists/objects hundreds deep: flatten it or drop it",
    "line_too_long": "split or drop the record; no training example needs that many bytes",
    "not_utf8": "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
    "not_an_object": "each record must be a JSON object with 'conversations' or 'messages'",
    "missing_field": "give each record 'conversations' of from/value (ShareGPT) or 'messages' of role/content",
    "bad_type": "use strings for roles and contents, and a list for 'conversations'/'messages'",
    "unknown_role": "use human/gpt/system (ShareGPT) or user/assistant/system (OpenAI) roles",
    "empty_content": "drop empty turns or fill them in",
    "empty_conversation": "drop records without turns",
    "no_assistant": "add the assistant's answer: there is nothing to train on without one",
    "last_not_assistant": "end each conversation with an assistant turn (drop a trailing user turn)",
    "not_alternating": "make user and assistant turns alternate (merge consecutive turns of one side)",
    "misplaced_system": "move the system turn to the start of the conversation",
    "blank_line": "tolerated; remove blank lines to silence this",
    "bom": "tolerated; save as UTF-8 without BOM to silence this",
    **IMAGE_FIXES,
}


@dataclass
class Problem:
    line: int
    kind: str
    message: str
    item: int | None = None  # the JSON array's item number (None in JSONL): forge.data.reader.Item

    def render(self, path: Path | str) -> str:
        return f"{locate(path, self.line, self.item)}: {self.message}"


def locate(path: Path | str, line: int, item: int | None) -> str:
    """`path:line`, and in a JSON array the item's number too: one written by `json.dump` is all on
    line 1, where the line alone names no record."""
    return f"{path}:{line}" if item is None else f"{path}:{line}: item {item}"


@dataclass
class DataReport:
    path: str
    exists: bool = True
    format: str | None = None  # sharegpt | messages | alpaca | mixed
    rows: int = 0  # records read (non-blank lines / array items)
    valid: int = 0  # records usable for training
    problems: list[Problem] = field(default_factory=list)  # blocking, capped, in file order
    counts: dict[str, int] = field(default_factory=dict)  # blocking kind -> how many records have it
    conversions: dict[str, int] = field(default_factory=dict)  # rule -> how many turns/rows converted
    duplicates: int = 0  # records identical (once normalised) to an earlier one in the same file
    leaked: int = 0  # (val only) records that also appear in train
    fatal: str | None = None  # a problem with the whole file (missing, empty, UTF-16, unreadable)
    # added by the data-validation work
    warnings: dict[str, int] = field(default_factory=dict)  # tolerated kind -> how many
    warning_lines: list[Problem] = field(default_factory=list)  # tolerated, capped, in file order
    layout: str | None = None  # jsonl | array
    formats: dict[str, int] = field(default_factory=dict)  # format -> valid records
    complete: bool = True  # False when reading stopped early (a JSON array with a syntax error)
    duplicate_lines: list[list[int]] = field(default_factory=list)  # [line, line of the first copy], capped
    leaked_lines: list[list[int]] = field(default_factory=list)  # [val line, train line], capped
    # in a JSON array (all on line 1 when json.dump wrote it) the same pairs by item number, parallel
    # to the lists above; None, and absent from to_dict, where no file is an array (JSONL unchanged)
    duplicate_items: list[list[int]] | None = None  # [item, item of the first copy]
    leaked_items: list[list[int | None]] | None = None  # [val item, train item]; None for a JSONL side
    # (val only) records with an assistant answer that train holds word for word (forge.data.answers),
    # how many such answers, and [val line, train line] pairs, capped
    answers_in_train: int = 0
    answers_in_train_count: int = 0
    answers_in_train_lines: list[list[int]] = field(default_factory=list)
    max_listed: int = 50
    longest_chars: int = 0  # characters of the longest usable record's contents
    longest_line: int | None = None
    cut: int = 0  # records cut before tokenization (max_chars: far beyond max_seq_length)
    cut_lines: list[list[int]] = field(default_factory=list)  # [line, characters before the cut], capped
    # images (forge.data.image_files): how many usable records hold them, and where the first ones are
    images: int = 0  # image references in usable records
    image_records: int = 0
    image_lines: list[int] = field(default_factory=list)  # lines of the first records with images, capped
    max_images: int = 0  # the most images one record holds
    largest_image_pixels: int = 0

    @property
    def ok(self) -> bool:
        return self.exists and self.fatal is None and self.valid > 0 and not self.counts

    @property
    def invalid(self) -> int:
        return self.rows - self.valid

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("duplicate_items", "leaked_items"):
            if d[key] is None:
                del d[key]
        d["ok"] = self.ok
        d["fixes"] = {k: FIXES.get(k, "") for k in {**self.counts, **self.warnings}}
        return d

    def fatal_text(self) -> str:
        """The whole-file problem, always with the split's path: `data/splits/val.jsonl: no records: ...`."""
        return f"{self.path}: {self.fatal}" if self.fatal else self.summary()

    def summary(self) -> str:
        if not self.exists:
            return f"{self.path}: missing"
        if self.fatal:
            return f"{self.path}: {self.fatal}"
        bad = sum(self.counts.values())
        text = f"{self.path}: {self.rows} rows, {self.valid} valid, {bad} problem(s)"
        if self.warnings:
            text += ", " + ", ".join(f"{k} x{v}" for k, v in self.warnings.items())
        if not self.complete:
            text += " (reading stopped early)"
        return text

    def render(self, limit: int | None = None) -> str:
        """The report as people read it: a summary line, then `path:line: message` lines."""
        if not self.exists or self.fatal:
            return self.summary()
        limit = self.max_listed if limit is None else limit
        kinds = ", ".join(f"{k} x{v}" for k, v in self.counts.items())
        n = sum(self.counts.values())
        head = f"{self.path}: {n} problem(s) in {self.rows} record(s), {self.valid} usable" + (
            f" ({kinds})" if kinds else ""
        )
        if not self.complete:
            head += "; reading stopped early"
        lines = [head] + [p.render(self.path) for p in self.problems[:limit]]
        listed = min(len(self.problems), limit)
        total = sum(self.counts.values())
        if total > listed:
            lines.append(f"... and {total - listed} more (only the first {listed} are listed)")
        return "\n".join(lines)

    def fix_text(self) -> str:
        kinds = [k for k in self.counts if k in FIXES]
        if self.fatal and self.fatal.startswith("no records"):
            return f"put the split's conversations into {self.path} (one JSON object a line), or point its key at it"
        if self.fatal:
            return "save the file as UTF-8 JSONL (one JSON object a line) or one JSON array of objects"
        return "; ".join(f"{k}: {FIXES[k]}" for k in kinds) or f"fix or remove the {self.named()} named above"

    def named(self) -> str:
        """What the listed problems name, for a fix to point at: "items" in a JSON array (its
        records are all on line 1 when json.dump wrote it), "lines" in JSONL; "items and lines" when
        the array's own syntax (no item) is at fault beside its items."""
        items = {p.item is not None for p in self.problems}
        return "items and lines" if len(items) > 1 else "items" if items == {True} else "lines"


class Conversations(list):
    """A split's normalised conversations (a list), knowing where each came from: `where(i)` is
    "path:line" of conversation i, so that a later step (templating, scoring) can name the line."""

    def __init__(self, path: str = "", items=()):
        super().__init__(items)
        self.path = path
        self.lines = array("Q")  # one line number per conversation, parallel to the list
        self.items = array("Q")  # a JSON array's item numbers, parallel too (empty for JSONL)

    def add(self, messages: list[dict], line: int, item: int | None = None) -> None:
        self.append(messages)
        self.lines.append(line)
        if item is not None:
            self.items.append(item)

    def where(self, i: int) -> str:
        if not 0 <= i < len(self.lines):
            return f"{self.path}: conversation #{i + 1}"
        return locate(self.path, self.lines[i], self.items[i] if i < len(self.items) else None)


def scan(
    path: Path,
    max_listed: int = 50,
    *,
    collect: bool = False,
    hashes: bool = True,
    max_record_bytes: int | None = None,
    display: str | None = None,
    max_chars: int | None = None,
) -> tuple[DataReport, Conversations | None, Hashes | None]:
    """One pass over `path`: the report, the conversations (if `collect`) and the hashes (if `hashes`).

    `display` is how messages name the file (the project-relative path); `max_chars` cuts each
    collected conversation to that many characters (forge.data.bound: far beyond max_seq_length),
    so that one huge record never reaches the tokenizer whole.
    """
    path = Path(path)
    report = DataReport(display or str(path), max_listed=max_listed)
    if not path.exists():
        report.exists = False
        return report, None, None
    if path.is_dir():
        report.fatal = "is a folder, not a file"
        return report, None, None
    conversations = Conversations(report.path) if collect else None
    index = new_hashes() if hashes else None
    counts: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    conversions: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    images = ImageChecker(path)
    reader = RecordReader(path) if max_record_bytes is None else RecordReader(path, max_record_bytes)
    try:
        for item in reader:
            if item.row:
                report.rows += 1
            if item.kind is not None:
                _note(report, counts, warnings, Problem(item.line, item.kind, item.message, item.item))
                continue
            try:
                n = normalize(item.value)
            except RecursionError:  # defensive: normalize never recurses into values
                n = None
            if n is None or n.messages is None:
                for kind, msg in n.problems if n is not None else [("too_deep", "JSON nested too deeply to read")]:
                    _note(report, counts, warnings, Problem(item.line, kind, msg, item.item))
                continue
            if any("images" in m for m in n.messages):
                if bad := images.check(n.messages):
                    _note(report, counts, warnings, Problem(item.line, *bad, item=item.item))
                    continue
                _count_images(report, n.messages, item.line)
            report.valid += 1
            formats[n.format] += 1
            conversions.update(n.conversions)
            if index is not None:
                index.add(n.messages, item.line, item.item)
            chars = conversation_chars(n.messages)
            if chars > report.longest_chars:
                report.longest_chars, report.longest_line = chars, item.line
            if conversations is not None:
                cut = cut_conversation(n.messages, max_chars) if max_chars and chars > max_chars else None
                if cut is not None:
                    report.cut += 1
                    if len(report.cut_lines) < max_listed:
                        report.cut_lines.append([item.line, chars])
                conversations.add(cut if cut is not None else n.messages, item.line, item.item)
    except FileUnreadable as e:
        report.fatal = str(e)
    except OSError as e:
        report.fatal = f"cannot read: {e.strerror or e}"
    report.layout = reader.layout
    report.largest_image_pixels = images.largest
    report.complete = reader.complete and report.fatal is None
    report.counts = dict(counts)
    report.warnings = dict(warnings)
    report.conversions = dict(conversions)
    report.formats = dict(formats)
    if len(formats) == 1:
        report.format = next(iter(formats))
    elif formats:
        report.format = "mixed"
    if report.fatal is None and report.rows == 0 and not counts:
        report.fatal = (
            "no records: the file is empty" + (" (only blank lines)" if warnings else "")
            if reader.layout == "jsonl"
            else "no records: the JSON array is empty"
        )
    if index is not None:
        report.duplicates, report.duplicate_lines, report.duplicate_items = index.duplicates(max_listed)
    return report, conversations, index


def _count_images(report: DataReport, messages: list[dict], line: int) -> None:
    n = sum(len(m.get("images") or ()) for m in messages)
    report.images += n
    report.image_records += 1
    report.max_images = max(report.max_images, n)
    if len(report.image_lines) < 5:
        report.image_lines.append(line)


def _note(report: DataReport, counts: Counter, warnings: Counter, p: Problem) -> None:
    if p.kind in WARNING_KINDS:
        warnings[p.kind] += 1
        if len(report.warning_lines) < report.max_listed:
            report.warning_lines.append(p)
    else:
        counts[p.kind] += 1
        if p.kind in IMAGE_FIXES:  # each bad image says its fix on its own line
            p.message += f"; fix: {IMAGE_FIXES[p.kind]}"
        if len(report.problems) < report.max_listed:
            report.problems.append(p)


def validate_file(path: Path, max_listed: int = 50, display: str | None = None) -> DataReport:
    return scan(path, max_listed, display=display)[0]


def validate_splits(
    train_path: Path,
    val_path: Path | None,
    max_listed: int = 50,
    display: tuple[str | None, str | None] = (None, None),
) -> tuple[DataReport, DataReport | None]:
    """Both splits; val.leaked counts val records that also appear (normalised) in train, and
    val.answers_in_train those with an assistant answer that train holds word for word."""
    train, _, train_hashes = scan(train_path, max_listed, display=display[0])
    if val_path is None:
        return train, None
    val, _, val_hashes = scan(val_path, max_listed, display=display[1])
    if train_hashes is not None and val_hashes is not None:
        val.leaked, val.leaked_lines, val.leaked_items = val_hashes.leaked_from(train_hashes, max_listed)
        found = val_hashes.answers.found_in(train_hashes.answers, max_listed)
        val.answers_in_train, val.answers_in_train_count, val.answers_in_train_lines = found
    return train, val
