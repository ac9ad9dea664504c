"""The image side of a tokenized example (torch-free apart from the tokenizer): which ids are the
image's, that none of them is trained, where a truncation may cut, and the token types Gemma 3's
attention reads (1 on the image's soft tokens: they attend to each other both ways).
"""

from __future__ import annotations

from typing import Any

from forge.models.image_facts import ImageFacts

IGNORE = -100


class ImageIds:
    """The ids of one processor's image tokens in one tokenizer."""

    def __init__(self, facts: ImageFacts, tokenizer: Any):
        ids = [tokenizer.convert_tokens_to_ids(t) for t in (facts.placeholder, facts.image_token)]
        self.boi, self.soft = ids
        self.facts = facts
        eoi = facts.expansion.rsplit(facts.image_token, 1)[-1].strip()
        self.eoi = tokenizer.convert_tokens_to_ids(eoi) if eoi else None
        self.all = {i for i in (self.boi, self.soft, self.eoi) if isinstance(i, int)}

    def finish(self, example: dict, refs: list[str]) -> dict | None:
        """The example with its images: a block cut by truncation is cut off whole (with the images
        after it), image tokens are never trained, token_type_ids mark the soft tokens. None when
        no trained token is left."""
        ids, labels = example["input_ids"], example["labels"]
        blocks = [k for k, i in enumerate(ids) if i == self.boi]
        complete = [k for k in blocks if ids[k + 1 : k + 2 + self.facts.tokens_per_image][-1:] == [self.eoi]]
        if len(complete) < len(blocks):  # the cut ran through an image: end before it
            cut = blocks[len(complete)]
            ids, labels = ids[:cut], labels[:cut]
        labels = [IGNORE if i in self.all else lab for i, lab in zip(ids, labels, strict=True)]
        if all(lab == IGNORE for lab in labels):
            return None
        kept = refs[: len(complete)]
        return {
            **example,
            "input_ids": ids,
            "labels": labels,
            "attention_mask": [1] * len(ids),
            "token_type_ids": [1 if i == self.soft else 0 for i in ids],
            "images": kept,
        }
