"""The line of every key of a JSON text, by its path, so that a config error can say where."""

from __future__ import annotations

from json.decoder import scanstring


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """{("training", "learning_rate"): 12, ...}: the 1-based line of each object key's first
    occurrence (keys inside arrays are keyed by their object's path, without the index). {} for
    text that is not JSON: the caller has a parse error of its own to report."""
    lines: dict[tuple[str, ...], int] = {}
    stack: list[list] = []  # one [is_object, current key] per open container
    i, line, n = 0, 1, len(text)
    try:
        while i < n:
            c = text[i]
            if c == '"':
                value, end = scanstring(text, i + 1)
                at, j = line, end
                while j < n and text[j] in " \t\r\n":
                    line += text[j] == "\n"
                    j += 1
                if stack and stack[-1][0] and j < n and text[j] == ":":
                    stack[-1][1] = value
                    lines.setdefault(tuple(key for is_object, key in stack if is_object), at)
                i = j
                continue
            if c == "\n":
                line += 1
            elif c in "{[":
                stack.append([c == "{", None])
            elif c in "}]" and stack:
                stack.pop()
            i += 1
    except ValueError:  # an unterminated string
        return {}
    return lines
