"""Scoring conversations with images (torch): the val loss gets each batch's pixels, and a prompt
with images is completed on its own, its placeholders expanded as training expands them
(forge.models.image_facts) and its pictures made pixels by the model's own image processor."""

from __future__ import annotations

from typing import Any


def image_inputs(cfg: Any, conversations: list) -> tuple[Any, Any]:
    """(ImageFacts, image processor) where the val split holds images, else (None, None)."""
    from forge.chat_images import images_of

    if not any(images_of(m) for m in conversations):
        return None, None
    from transformers import AutoProcessor

    from forge.errors import EXIT_USAGE, ForgeError
    from forge.models.facts import model_folder
    from forge.models.image_facts import from_folder
    from forge.models.loader import resolve_model_path

    facts, why = from_folder(model_folder(cfg.model.name)[0])
    if facts is None:
        raise ForgeError(
            f"the val split holds images, and {why}", "score a vision-language model", exit_code=EXIT_USAGE, kind="data"
        )
    return facts, AutoProcessor.from_pretrained(resolve_model_path(cfg.model.name)).image_processor


def batch_pixels(batch: list[dict], image_processor: Any, device: Any) -> dict:
    """pixel_values and token_type_ids of a padded batch (empty where it holds no image)."""
    import torch

    from forge.train.backends.vision_collator import open_image

    refs = [r for e in batch for r in e.get("images") or ()]
    if not refs or image_processor is None:
        return {}
    width = max(len(e["input_ids"]) for e in batch)
    types = [list(e.get("token_type_ids") or [0] * len(e["input_ids"])) for e in batch]
    types = torch.tensor([t + [0] * (width - len(t)) for t in types], dtype=torch.long, device=device)
    pixels = image_processor([open_image(r) for r in refs], return_tensors="pt")["pixel_values"]
    return {"pixel_values": pixels.to(device), "token_type_ids": types}


def generate_one(
    model: Any,
    tokenizer: Any,
    text: str,
    refs: list[str],
    images: Any,
    image_processor: Any,
    max_new_tokens: int,
    stops: list[int],
) -> str:
    """A greedy answer to one rendered prompt with its images."""
    import torch

    from forge.models.greedy import greedy_args
    from forge.train.backends.vision_collator import open_image

    text, _ = images.expand(text, [])
    device = next(model.parameters()).device
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
    soft = tokenizer.convert_tokens_to_ids(images.image_token)
    pixels = image_processor([open_image(r) for r in refs], return_tensors="pt")["pixel_values"]
    dtype = next(p for p in model.parameters() if p.is_floating_point()).dtype
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            token_type_ids=(ids == soft).long(),
            pixel_values=pixels.to(device, dtype=dtype),
            **greedy_args(max_new_tokens, tokenizer.pad_token_id, stops),
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
