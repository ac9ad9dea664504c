"""The merged model's answer about one picture: the reference llama.cpp's answer is held to
(forge.export.verify_image_answer; torch, transformers and Pillow imported inside functions).

The picture is the `shapes` example's (forge.data.example_shapes: a red circle on white), the
question one of its own, rendered by the merged folder's processor and chat template as a user of
the folder would. Greedy: the answer's token ids, and the float32 logits at every position of
prompt + answer, teacher-forced, for this picture and for another one (a blue square): the
second set tells how far the logits move when the picture changes, so that llama.cpp's logits can
be shown to follow this picture, not merely the text around it.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANSWER_TOKENS = 16
PICTURE, OTHER_PICTURE = ("red", "circle"), ("blue", "square")


def question() -> str:
    from forge.data.example_shapes import QUESTIONS

    return QUESTIONS["both"][0]


def picture(which: tuple[str, str] = PICTURE) -> bytes:
    """A PNG drawn as the shapes example draws its pictures (same seed, same bytes)."""
    from forge.data.example_shapes import draw

    return draw(which[0], which[1], random.Random(0))


@dataclass
class ImageReference:
    ids: list[int]  # the processor's prompt: the image run expanded to its placeholder tokens
    image_run: tuple[int, int]  # [start, end) of the image's tokens in ids, its begin/end markers included
    image_token_id: int
    image_tokens: int  # placeholder tokens of the picture in ids
    eos_ids: list[int]
    answer: list[int]  # greedy, at most ANSWER_TOKENS, up to and with the first end-of-turn id
    logits: Any  # float32 [len(ids) + len(answer), vocab]: this picture
    other_logits: Any  # the same positions and tokens, another picture
    answer_text: str
    # the prompt as text around the image run, for llama.cpp's mtmd (which writes the run itself)
    text_before: str
    text_after: str


def hf_reference(model: Any, merged_dir: Path, eos_ids: list[int]) -> ImageReference:
    """Greedy answer and logits of `model` (the merged model as loaded back) about the picture."""
    import torch
    from PIL import Image
    from transformers import AutoProcessor
    from transformers import logging as hf_logging

    from forge.models.greedy import greedy_args

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the PIL image processor stands in for the torchvision one
    try:
        processor = AutoProcessor.from_pretrained(str(merged_dir))
    finally:
        hf_logging.set_verbosity(verbosity)
    tok = processor.tokenizer
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question()}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    device = next(model.parameters()).device

    def inputs(png: bytes) -> dict[str, Any]:
        image = Image.open(io.BytesIO(png)).convert("RGB")
        # the template wrote <bos> already: the processor adds none of its own (as apply_chat_template
        # with tokenize=True does)
        got = processor(text=text, images=[image], return_tensors="pt", add_special_tokens=False)
        return {k: v.to(device) for k, v in got.items()}

    first = inputs(picture())
    ids = first["input_ids"][0].tolist()
    # the placeholder repeated per image embedding (Gemma3Processor's own image_token_id is <start_of_image>)
    image_id = getattr(tok, "image_token_id", None)
    image_id = int(image_id if image_id is not None else processor.image_token_id)
    run = _image_run(ids, image_id, tok)
    with torch.no_grad():
        out = model.generate(
            **first,
            **greedy_args(ANSWER_TOKENS, eos_ids[0], eos_ids),
        )
        answer = out[0, len(ids) :].tolist()
        logits = [_teacher_forced(model, inputs(png), answer) for png in (picture(), picture(OTHER_PICTURE))]
    return ImageReference(
        ids=ids,
        image_run=run,
        image_token_id=image_id,
        image_tokens=sum(1 for t in ids if t == image_id),
        eos_ids=list(eos_ids),
        answer=answer,
        logits=logits[0],
        other_logits=logits[1],
        answer_text=tok.decode(answer, skip_special_tokens=False),
        text_before=tok.decode(ids[: run[0]], skip_special_tokens=False),
        text_after=tok.decode(ids[run[1] :], skip_special_tokens=False),
    )


def _image_run(ids: list[int], image_id: int, tok: Any) -> tuple[int, int]:
    """The image's placeholder tokens with the begin/end-of-image tokens around them (Gemma 3's
    <start_of_image> ... <end_of_image>), which llama.cpp's mtmd writes itself around the image."""
    where = [i for i, t in enumerate(ids) if t == image_id]
    if not where:
        raise ValueError("the processor rendered no image tokens")
    start, end = where[0], where[-1] + 1
    boi, eoi = (getattr(tok, a, None) for a in ("boi_token", "eoi_token"))
    if boi and start > 0 and ids[start - 1] == tok.convert_tokens_to_ids(boi):
        start -= 1
    if eoi and end < len(ids) and ids[end] == tok.convert_tokens_to_ids(eoi):
        end += 1
    return start, end


def _teacher_forced(model: Any, inputs: dict[str, Any], answer: list[int]) -> Any:
    import torch

    ids = inputs["input_ids"]
    tail = torch.tensor([answer], dtype=ids.dtype, device=ids.device)
    full = dict(inputs, input_ids=torch.cat([ids, tail], 1), attention_mask=torch.ones(1, ids.shape[1] + len(answer)))
    full["attention_mask"] = full["attention_mask"].to(ids.device, ids.dtype)
    if "token_type_ids" in inputs:  # Gemma 3: 1 marks image tokens (attended bidirectionally)
        full["token_type_ids"] = torch.cat([inputs["token_type_ids"], torch.zeros_like(tail)], 1)
    return model(**full).logits[0].float().cpu()
