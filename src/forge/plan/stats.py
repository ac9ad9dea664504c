"""DataStats: what the resolver knows about the data (token lengths of the templated examples).

Measured by forge.plan.measure with the model's tokenizer where it loads offline, else estimated
from characters. `prompt_lengths` are the tokens before each example's first trained (assistant)
token: an example whose prompt alone reaches max_seq_length keeps no trained token once truncated,
and training drops it; the resolver refuses, as training would, when too many are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class DataStats:
    """Token lengths of the templated training examples (plus counts)."""

    train_examples: int
    val_examples: int = 0
    lengths: list[int] = field(default_factory=list)  # one per train example, templated
    measured_with: str = "chars/4"  # or "tokenizer of <name>"
    prompt_lengths: list[int | None] = field(default_factory=list)  # tokens before the first trained one
    no_assistant: int = 0  # measured examples the template renders without any assistant turn
    measured: int = 0  # examples the prompt/no_assistant figures were measured on (a sample of large sets)
    longest_chars: int = 0  # the longest train record, in characters
    longest_line: int | None = None  # ... and its line
    # the tokenizer on the messages' own text (no template): does it fit this data at all?
    text_chars: int = 0  # characters of the measured messages' contents
    text_tokens: int = 0  # the tokens the model's tokenizer made of them
    unk_tokens: int = 0  # ... of which its unknown token
    # what went wrong measuring with the model's tokenizer (forge.plan.measure.measure_problem says it)
    template_errors: int = 0  # measured examples the chat template raised on (also in no_assistant)
    template_error: str | None = None  # the first: "data/splits/train.jsonl:12: TemplateError: ..."
    measure_error: str | None = None  # the tokenizer/template failed the whole measurement (lengths: chars/4)
    # images in the conversations (train and val): lengths above count their tokens
    images: int = 0
    image_where: str | None = None  # the first record holding one: "data/splits/train.jsonl:3"
    max_images: int = 0  # the most images one conversation holds

    def quantile(self, q: float) -> int:
        if not self.lengths:
            return 512
        s = sorted(self.lengths)
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    @property
    def mean(self) -> float:
        return sum(self.lengths) / len(self.lengths) if self.lengths else 512.0

    def mean_capped(self, cap: int) -> float:
        if not self.lengths:
            return min(512.0, cap)
        return sum(min(n, cap) for n in self.lengths) / len(self.lengths)

    def padded_row(self, cap: int) -> float:
        """Tokens of one unpacked row in the micro-batch that sets the peak: the one holding the
        longest example, whose length every row of it is padded to (capped at max_seq_length).
        The mean with 30% for padding read 2,936 tokens for 8 pictures of 286 tokens at most, and
        the plan 28% over the H100's peak (2026-12-07, docs/benchmarks.md); for long-tailed data it
        read under the batch that holds the longest."""
        if not self.lengths:
            return min(512.0, cap)
        return float(min(max(self.lengths), cap))

    def truncated(self, cap: int) -> int:
        return sum(1 for n in self.lengths if n > cap)

    def truncated_away(self, cap: int) -> int:
        """Measured examples whose first trained token comes at or after `cap` (dropped by training)."""
        return sum(1 for n in self.prompt_lengths if n is not None and n >= cap)

    @property
    def chars_per_token(self) -> float | None:
        """Characters a token of the messages' text (inf: no tokens at all); None: not measured."""
        if not self.text_chars:
            return None
        return self.text_chars / self.text_tokens if self.text_tokens else float("inf")

    @property
    def unk_fraction(self) -> float:
        return self.unk_tokens / self.text_tokens if self.text_tokens else 0.0

    def to_dict(self) -> dict:
        return {
            "train_examples": self.train_examples,
            "val_examples": self.val_examples,
            "measured_with": self.measured_with,
            "tokens_mean": round(self.mean, 1),
            "tokens_p50": self.quantile(0.5),
            "tokens_p90": self.quantile(0.9),
            "tokens_p99": self.quantile(0.99),
            "tokens_max": max(self.lengths) if self.lengths else None,
            "prompt_tokens_min": min((n for n in self.prompt_lengths if n is not None), default=None),
            "longest_chars": self.longest_chars,
            # the tokenizer on the messages' text (null where it was not measured with one)
            "chars_per_token": round(self.chars_per_token, 2) if self.text_tokens else None,
            "unknown_tokens": self.unk_tokens if self.text_tokens else None,
            "template_errors": self.template_errors,
            "template_error": self.template_error,
            "measure_error": self.measure_error,
            "images": self.images,
            "image_where": self.image_where,
            "max_images": self.max_images,
        }
