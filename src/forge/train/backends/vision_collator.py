"""Batches of examples with images (torch): forge's ids and labels padded as they are, and each
image opened and turned into pixel values by the model's own image processor.

TRL's DataCollatorForVisionLanguageModeling templates and masks the messages itself (and, before
transformers 5.18, cannot train the assistant turns only); forge's examples arrive tokenized with
its labels (forge.train.dataset), which the inspector shows and training must use unchanged, so
this collator only pads and adds pixel_values. Images load lazily, batch by batch: a dataset of
thousands of pictures never sits in memory as pixels.
"""

from __future__ import annotations

import base64
import io
from typing import Any

IGNORE = -100


def open_image(ref: str):
    """An RGB image from a path or a data URI (checked before training: forge.data.image_files)."""
    from PIL import Image

    if ref.startswith("data:"):
        source: Any = io.BytesIO(base64.b64decode(ref.partition(",")[2]))
    else:
        source = ref
    with Image.open(source) as im:
        return im.convert("RGB")


class VisionCollator:
    def __init__(self, processor: Any, pad_token_id: int, dtype: Any = None):
        self.image_processor = processor.image_processor
        self.pad = pad_token_id
        self.dtype = dtype  # the vision tower's (bf16 on a GPU): its patch convolution takes no float32

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)

        def padded(key: str, fill: int) -> torch.Tensor:
            rows = [list(f[key]) + [fill] * (width - len(f[key])) for f in features]
            return torch.tensor(rows, dtype=torch.long)

        batch = {
            "input_ids": padded("input_ids", self.pad),
            "labels": padded("labels", IGNORE),
            "attention_mask": padded("attention_mask", 0),
        }
        if any("token_type_ids" in f for f in features):
            batch["token_type_ids"] = torch.tensor(
                [
                    list(f.get("token_type_ids") or [0] * len(f["input_ids"])) + [0] * (width - len(f["input_ids"]))
                    for f in features
                ],
                dtype=torch.long,
            )
        images = [open_image(ref) for f in features for ref in f.get("images") or ()]
        if images:
            pixels = self.image_processor(images, return_tensors="pt")["pixel_values"]
            batch["pixel_values"] = pixels.to(self.dtype) if self.dtype is not None else pixels
        return batch
