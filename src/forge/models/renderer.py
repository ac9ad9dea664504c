"""Renderer: one chat template with one tokenizer's special tokens, and the character spans of
the text the model is trained on (torch-free).

Every renderer (training, measuring, scoring) goes through `Renderer`, so they all map roles alike
(forge.models.template_roles). Masking never hard-codes a family's markers: `assistant_spans`
finds the trained text by rendering conversation prefixes. An assistant turn with `weight` 0
(forge.data.formats) is rendered but not trained: no span.
"""

from __future__ import annotations

from typing import Any

from forge.chat_images import as_parts
from forge.models.jinja_render import probe_end_of_turn, render, special_tokens
from forge.models.template_roles import adapt_messages, role_support

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use sentinels around assistant contents (marked_spans)


def _trained(m: dict) -> bool:
    """An assistant turn the model learns (a `weight` of 0 renders it as context only)."""
    return m.get("weight", 1) != 0


class Renderer:
    """Renders one template with one tokenizer's special tokens; finds the trained character spans.

    Every method first maps the conversation to the roles the template has (adapt_messages).
    """

    def __init__(self, jinja: str, tokenizer: Any = None):
        self.jinja = jinja
        self.special = special_tokens(tokenizer)
        self.end_of_turn = probe_end_of_turn(jinja, self.special)
        self.roles = role_support(jinja, tuple(sorted(self.special.items())))

    def adapt(self, messages: list[dict]) -> list[dict]:
        return adapt_messages(messages, self.roles)

    def render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        return self._render(self.adapt(messages), add_generation_prompt)

    def _render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        # images go to the template as content parts: it writes its image token where each one sits
        return render(self.jinja, as_parts(messages), add_generation_prompt, self.special)

    def assistant_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The full text and the [start, end) character spans the model is trained on.

        The definition is `prefix_spans`; `marked_spans` gets the same answer in two renders
        instead of two per assistant turn, and is used whenever it can vouch for its result.
        """
        messages = self.adapt(messages)
        fast = self.marked_spans(messages)
        return fast if fast is not None else self.prefix_spans(messages)

    def marked_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]] | None:
        """Render once with each assistant content wrapped in private-use sentinels.

        Trusted only if removing the sentinels gives exactly the plain render and every pair is
        found in order; otherwise None (the template transforms content: use the prefix method).
        The span runs from the content to just after the template's end-of-turn marker.
        """
        if not self.end_of_turn:
            return None
        messages = self.adapt(messages)
        marked = []
        for m in messages:
            c = m["content"]
            if m["role"] == "assistant":
                if _OPEN in c or _CLOSE in c:
                    return None
                core = c.strip()
                lead = c[: len(c) - len(c.lstrip())]
                c = lead + _OPEN + core + _CLOSE + c[len(lead) + len(core) :]
            marked.append({**m, "content": c})
        text = self._render(marked)
        parts = text.split(_OPEN)
        assistants = [m for m in messages if m["role"] == "assistant"]
        n_assistant = len(assistants)
        if len(parts) != n_assistant + 1 or text.count(_CLOSE) != n_assistant:
            return None
        full, spans = parts[0], []
        for part in parts[1:]:
            core, sep, rest = part.partition(_CLOSE)
            if not sep:
                return None
            start = len(full)
            full += core + rest
            end = start + len(core) + len(rest) - len(rest.lstrip())  # untrimmed trailing space is written too
            if not full.startswith(self.end_of_turn, end):
                return None
            spans.append((start, end + len(self.end_of_turn)))
        if full != self._render(messages):
            return None
        return full, [span for span, m in zip(spans, assistants, strict=True) if _trained(m)]

    def prefix_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The spans by definition: for each assistant turn i, A = render(messages[:i], generation
        prompt), B = render(messages[:i+1]); the text B adds to A is what the model writes (its
        content and end-of-turn marker). Leading text before the content (a header some template
        emits without a generation prompt) and trailing whitespace are not trained. Where a
        template is not prefix-consistent (A is not a prefix of B, or B not of the full text), the
        content is found by search instead.
        """
        messages = self.adapt(messages)
        full = self._render(messages)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            before = self._render(messages[:i], add_generation_prompt=True)
            upto = full if i == len(messages) - 1 else self._render(messages[: i + 1])
            if upto.startswith(before) and full.startswith(upto) and len(upto) > len(before):
                span = _trim_span(upto, len(before), len(upto), m["content"])
            else:
                span = self._search_span(full, cursor, m["content"])
            if span and span[1] > span[0]:
                if _trained(m):
                    spans.append(span)
                cursor = span[1]
        return full, spans

    def _search_span(self, full: str, cursor: int, content: str) -> tuple[int, int] | None:
        needle = content.strip()
        start = full.find(needle, cursor) if needle else -1
        if start < 0:
            return None
        end = start + len(needle)
        if self.end_of_turn and full.startswith(self.end_of_turn, end):
            end += len(self.end_of_turn)
        return start, end


def _trim_span(text: str, start: int, end: int, content: str) -> tuple[int, int]:
    seg = text[start:end]
    needle = content.strip()
    at = seg.find(needle) if needle else -1
    if at < 0 and needle:
        at = seg.find(needle[:32])
    if at < 0:
        at = len(seg) - len(seg.lstrip())
    return start + at, start + len(seg.rstrip())
