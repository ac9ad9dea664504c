"""Streaming reader: a JSONL file or one JSON array -> records with their line numbers (torch-free).

Memory is bounded by the largest record, never by the file: JSONL is read line by line in binary
(so a bad byte or a BOM is one line's problem, not a crash), and a JSON array is read item by item
with `json.JSONDecoder.raw_decode` over a sliding buffer. The first non-space byte decides the
layout: `[` is a JSON array, anything else is JSONL.

The training-time loader, `load_conversations`, is in forge.data.load (the same pass as `forge
check`, validate.py, which reads through this module; this one imports neither).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.errors import EXIT_USAGE, ForgeError

BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20
MAX_RECORD_BYTES = 64 << 20  # a longer line / array item is reported, never read into memory
_WS = re.compile(r"[ \t\n\r]*")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8
_DECODER = json.JSONDecoder()


class DataError(ForgeError):
    """Bad training data: carries the report that says which lines and why."""

    exit_code = EXIT_USAGE
    kind = "data"

    def __init__(self, message: str, report=None, fix: str | None = None):
        super().__init__(message, fix or "fix or remove the lines named above; `forge check` lists every problem")
        self.report = report


class FileUnreadable(Exception):
    """A problem with the whole file (not UTF-8 at all, unreadable): nothing can be read."""


@dataclass(slots=True)
class Item:
    """One thing the reader found: a parsed record (kind None) or a problem at a line."""

    line: int
    value: Any = None
    kind: str | None = None
    message: str = ""
    row: bool = True  # False for what is not a record: blank lines, BOMs, the array's own syntax
    # a JSON array's item number (1-based), None in JSONL: `json.dump(rows, f)` writes the whole array
    # on line 1, where every problem read "train.jsonl:1:" and no record could be found by its line
    item: int | None = None


class RecordReader:
    """Iterate over a file's records. After iteration: `layout` (jsonl | array), `complete`."""

    def __init__(self, path: str | Path, max_record_bytes: int = MAX_RECORD_BYTES, chunk: int = CHUNK):
        self.path = Path(path)
        self.max_record_bytes = max_record_bytes
        self.chunk = chunk
        self.layout: str | None = None
        self.complete = True  # False when a JSON array could not be read to its end

    def __iter__(self) -> Iterator[Item]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed in finally; a generator)
        except OSError as e:
            raise FileUnreadable(f"cannot open: {e.strerror or e}") from e
        try:
            head = f.read(4)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) >= 2 and b"\x00" in head[:2]):
                raise FileUnreadable("the file is UTF-16/UTF-32, not UTF-8: save it as UTF-8")
            has_bom = head.startswith(BOM)
            f.seek(3 if has_bom else 0)
            first = b""
            while True:
                block = f.read(1 << 16)
                if not block:
                    break
                stripped = block.lstrip()
                if stripped:
                    first = stripped[:1]
                    break
            if first == b"[":
                self.layout = "array"
                f.seek(3 if has_bom else 0)
                if has_bom:
                    yield _bom_item(1)
                yield from self._array(f, 3 if has_bom else 0)
            else:
                self.layout = "jsonl"
                f.seek(0)
                yield from self._jsonl(f)
        finally:
            f.close()

    # JSONL -------------------------------------------------------------------------------------
    def _jsonl(self, f) -> Iterator[Item]:
        limit = self.max_record_bytes
        lineno = 0
        offset = 0
        readline = f.readline
        for raw in iter(lambda: readline(limit + 1), b""):
            lineno += 1
            start = offset
            offset += len(raw)
            if len(raw) > limit and not raw.endswith(b"\n"):
                while True:  # skip the rest of the line without holding it
                    rest = readline(self.chunk)
                    offset += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield Item(lineno, kind="line_too_long", message=f"line longer than {_size(limit)}: not read")
                continue
            if raw.startswith(BOM):
                yield _bom_item(lineno)
                raw = raw[3:]
                start += 3
            if not raw or raw.isspace():
                yield Item(lineno, kind="blank_line", message="blank line (skipped)", row=False)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Item(
                    lineno,
                    kind="not_utf8",
                    message=f"not valid UTF-8 at byte {start + e.start} (column {e.start + 1}, byte 0x{raw[e.start]:02x})",
                )
                continue
            try:
                yield Item(lineno, json.loads(text))
            except json.JSONDecodeError:
                yield Item(lineno, kind="bad_json", message=_json_error(text.rstrip()))
            except RecursionError:
                yield _too_deep(lineno)

    # one JSON array ----------------------------------------------------------------------------
    def _array(self, f, start_byte: int) -> Iterator[Item]:
        s = _Scanner(f, self.chunk, start_byte)
        s.peek()
        s.pos += 1  # the '['
        number = 0  # each row is one item of the array, in order: its number names it
        for found in self._array_items(s):
            if found.row:
                number += 1
                found.item = number
            yield found

    def _array_items(self, s: _Scanner) -> Iterator[Item]:
        first = True
        while True:
            c = s.peek()
            if c == "]" and first:
                s.pos += 1
                break
            if c == "":
                yield s.problem(s.pos, "the JSON array is not closed: ']' is missing at the end of the file")
                self.complete = False
                return
            start = s.pos
            line = s.line_of(start)
            try:
                value, end = s.value(self.max_record_bytes)
            except json.JSONDecodeError as e:
                at = e.pos
                if e.pos >= len(s.buf.rstrip()) or e.msg.startswith("Unterminated string"):
                    msg, at = "the file ends inside this item: was it cut off?", start
                else:
                    msg = (
                        f"bad JSON at column {s.col_of(e.pos)}: {e.msg}; reading stopped here "
                        "(a JSON array cannot be read past a syntax error)"
                    )
                yield s.problem(at, msg, row=True)
                self.complete = False
                return
            except _TooLarge:
                yield Item(
                    line,
                    kind="line_too_long",
                    message=f"array item longer than {_size(self.max_record_bytes)}: reading stopped here",
                )
                self.complete = False
                return
            except RecursionError:
                end = _skip_value(s, self.max_record_bytes)
                yield _too_deep(line)
                if end is None:
                    self.complete = False
                    return
            else:
                bad = _ESCAPED_BYTE.search(s.buf, start, end)
                if bad:
                    at = s.byte_of(bad.start())
                    yield Item(
                        line,
                        kind="not_utf8",
                        message=f"not valid UTF-8 at byte {at} (line {s.line_of(bad.start())}, "
                        f"byte 0x{ord(bad.group()) - 0xDC00:02x})",
                    )
                else:
                    yield Item(line, value)
            s.pos = end
            c = s.peek()
            if c == ",":
                s.pos += 1
                first = False
                s.compact()
                if s.peek() == "]":
                    yield s.problem(s.pos, "trailing comma before the closing ']'")
                    s.pos += 1
                    break
            elif c == "]":
                s.pos += 1
                break
            elif c == "":
                yield s.problem(s.pos, "the JSON array is not closed: ']' is missing at the end of the file")
                self.complete = False
                return
            else:
                yield s.problem(
                    s.pos, f"expected ',' or ']' after the item, found {c!r}; reading stopped here", row=False
                )
                self.complete = False
                return
        if s.peek():
            yield s.problem(s.pos, "extra data after the closing ']' of the JSON array")


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text):
            return f"bad JSON: the line ends early ({e.msg} at column {e.colno}); was it cut off?"
        return f"bad JSON at column {e.colno}: {e.msg}"
    except RecursionError:
        pass
    return "bad JSON"


def _bom_item(line: int) -> Item:
    return Item(line, kind="bom", message="UTF-8 byte-order mark (BOM) (tolerated)", row=False)


def _too_deep(line: int) -> Item:
    return Item(line, kind="too_deep", message="JSON nested too deeply to read")


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n} bytes"


class _TooLarge(Exception):
    pass


class _Scanner:
    """A sliding text window over a binary file, with line, column and byte positions."""

    def __init__(self, f, chunk: int, start_byte: int):
        self.f = f
        self.chunk = chunk
        self.dec = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.base_line = 1  # line number at buf[0]
        self.base_col = 0  # characters of that line before buf[0]
        self.base_byte = start_byte  # file offset of buf[0]
        self._lp, self._ll = 0, 1  # cache: line number at buf[_lp]

    def more(self, n: int | None = None) -> bool:
        if self.eof:
            return False
        data = self.f.read(n or self.chunk)
        if not data:
            self.eof = True
            tail = self.dec.decode(b"", final=True)
            self.buf += tail
            return bool(tail)
        self.buf += self.dec.decode(data)
        return True

    def compact(self) -> None:
        if self.pos < self.chunk:
            return
        head = self.buf[: self.pos]
        nl = head.rfind("\n")
        self.base_col = len(head) - nl - 1 if nl >= 0 else self.base_col + len(head)
        self.base_line += head.count("\n")
        self.base_byte += len(head.encode("utf-8", "surrogateescape"))
        self.buf = self.buf[self.pos :]
        self.pos = 0
        self._lp, self._ll = 0, self.base_line

    def peek(self) -> str:
        """Skip whitespace; the next character ('' at the end of the file)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self, max_bytes: int) -> tuple[Any, int]:
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                maybe_cut = e.pos >= len(self.buf) - 32 or e.msg.startswith("Unterminated string")
                if self.eof or not maybe_cut:
                    raise
                self._grow(max_bytes)
                continue
            if end >= len(self.buf) and not self.eof:  # a number or literal might go on
                self._grow(max_bytes)
                continue
            return value, end

    def _grow(self, max_bytes: int) -> None:
        if len(self.buf) - self.pos > max_bytes:
            raise _TooLarge
        self.more(max(self.chunk, len(self.buf) - self.pos))

    def line_of(self, i: int) -> int:
        if i < self._lp:
            self._lp, self._ll = 0, self.base_line
        self._ll += self.buf.count("\n", self._lp, i)
        self._lp = i
        return self._ll

    def col_of(self, i: int) -> int:
        nl = self.buf.rfind("\n", 0, i)
        return i - nl if nl >= 0 else self.base_col + i + 1

    def byte_of(self, i: int) -> int:
        return self.base_byte + len(self.buf[:i].encode("utf-8", "surrogateescape"))

    def problem(self, i: int, message: str, row: bool = False) -> Item:
        return Item(self.line_of(min(i, len(self.buf))), kind="bad_json", message=message, row=row)


_SKIP = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]|[^"\[\]{}]+', re.S)


def _skip_value(s: _Scanner, max_bytes: int) -> int | None:
    """End of the value at s.pos without recursion (for nesting too deep for json); None if unsure."""
    while True:
        depth = 0
        i = s.pos
        while i < len(s.buf):
            m = _SKIP.match(s.buf, i)
            if m is None:
                break
            tok = m.group()
            if tok in "[{":
                depth += 1
            elif tok in "]}":
                depth -= 1
                if depth == 0:
                    return m.end()
            elif tok.startswith('"') and m.end() == len(s.buf):
                break  # a string cut by the window
            i = m.end()
        if s.eof or len(s.buf) - s.pos > max_bytes:
            return None
        s.more(max(s.chunk, len(s.buf) - s.pos))
