"""Bounds on one example before tokenization (torch-free).

A record of 50 MB passed `forge check` and then took 10 GB of RAM in the tokenizer, only for all
but its first max_seq_length tokens to be cut off. No token covers more than a few dozen
characters, so an example of more than CHARS_PER_TOKEN x max_seq_length characters is certainly
beyond max_seq_length tokens: cutting its text there, before tokenizing, keeps exactly the tokens
training keeps (the first max_seq_length) and bounds memory by max_seq_length, not by the record.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 32  # a bound, not an average: real tokenizers average 3-5 characters a token


def char_bound(max_seq_length: int) -> int:
    """Characters beyond which an example is cut before tokenization."""
    return max_seq_length * CHARS_PER_TOKEN


def conversation_chars(messages: list[dict]) -> int:
    return sum(len(m.get("content") or "") for m in messages)


def cut_conversation(messages: list[dict], max_chars: int) -> list[dict] | None:
    """The conversation with its contents cut after `max_chars` characters (turns after the cut are
    dropped, as truncation drops their tokens); None when it is within the bound."""
    if conversation_chars(messages) <= max_chars:
        return None
    out: list[dict] = []
    left = max_chars
    for m in messages:
        content = m.get("content") or ""
        if len(content) >= left:
            out.append({**m, "content": content[:left]})
            break
        out.append(m)
        left -= len(content)
    return out
