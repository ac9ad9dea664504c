"""What a trainer needs beside the model when the examples hold images (torch): the model's own
processor (with the tokenizer forge templated) as TRL's processing class, and forge's
VisionCollator. Both backends (hf, unsloth) build their trainers with it."""

from __future__ import annotations

from typing import Any


def load_processor(name: str, tokenizer: Any):
    """AutoProcessor of the model, its tokenizer replaced by the one training uses (forge's template)."""
    from transformers import AutoProcessor

    from forge.models.loader import resolve_model_path

    processor = AutoProcessor.from_pretrained(resolve_model_path(name))
    processor.tokenizer = tokenizer
    return processor


def vision_inputs(backend: Any, model: Any, tokenizer: Any) -> dict:
    from forge.train.backends.vision_collator import VisionCollator

    processor = getattr(backend, "processor", None) or load_processor(backend.cfg.model.name, tokenizer)
    backend.processor = processor
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    backend.note("images in the data: the model's processor makes their pixels; packing is off")
    dtype = model.get_input_embeddings().weight.dtype
    return {"processing_class": processor, "data_collator": VisionCollator(processor, pad, dtype)}
