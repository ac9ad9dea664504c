"""A random-init Gemma 3 -it of the real layout, for the benchmark (torch inside the functions): the
4B-it, and the 12B-it's and 27B-it's decoders behind the same tower.

Gemma3ForConditionalGeneration, the class of unsloth/gemma-3-4b-it (forge's default model): text
decoder hidden 2560, 34 layers, 8 heads / 4 KV heads, head_dim 256, MLP 10240, vocabulary 262,208;
SigLIP tower 27 layers, hidden 1152, MLP 4304, 16 heads, 896-pixel images in 14-pixel patches; a
projector to 256 multimodal tokens per image. The weights are random (no hub), the tokenizer is the
benchmark's word-level one (bench/word_tokenizer.py) plus Gemma 3's three image tokens, so that
Gemma3Processor and Unsloth's FastModel load the folder exactly as they load the real one. The
text-only chat data never reaches the vision tower: it is loaded and held, not run.
"""

from __future__ import annotations

from pathlib import Path

from bench.word_tokenizer import build_tokenizer
from forge.models.builtin_vlm import GEMMA3_4B

IMAGE_TOKENS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
# the one hand-written copy of unsloth/gemma-3-4b-it's shape (forge.models.builtin_vlm)
TEXT, VISION, MM_TOKENS = GEMMA3_4B
# Gemma 3 scales its queries by 1/sqrt(query_pre_attn_scalar): head_dim for the 4B and 12B, hidden
# / heads for the 27B (168, its published config); not derivable from the rest of the shape
QUERY_SCALE = {"gemma-3-27b": 168}


def text_config(shape_name: str = "gemma-3-4b") -> dict:
    """The text decoder of a Gemma 3 -it layout: the 4B-it's config (rope, window, vocabulary) with
    the sizes forge.models.shape holds for `shape_name` (gemma-3-4b, gemma-3-12b, gemma-3-27b), so the
    12B's and 27B's layouts come from the table the plan sizes them with."""
    from forge.models.shape import SHAPES

    s = SHAPES[shape_name]
    return dict(TEXT, **s.config_sizes(), query_pre_attn_scalar=QUERY_SCALE.get(shape_name, s.hd))


def build_gemma3_vlm(folder: Path, device: str = "cuda", shape_name: str = "gemma-3-4b") -> Path:
    """Gemma3ForConditionalGeneration of the -it layout `shape_name` (the 4B-it's by default; the
    12B's and 27B's decoders behind the same SigLIP tower and projector), random bf16 weights."""
    import torch
    from transformers import (
        AutoTokenizer,
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
        SiglipVisionConfig,
    )

    if (folder / "config.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(folder)
    # reloaded with the image tokens Gemma3Processor reads (boi / eoi / image)
    tok = AutoTokenizer.from_pretrained(str(folder), extra_special_tokens=dict(IMAGE_TOKENS))
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in IMAGE_TOKENS.items()}
    special = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    cfg = Gemma3Config(
        text_config=dict(text_config(shape_name), **special),
        vision_config=SiglipVisionConfig(**VISION, vision_use_head=False).to_dict(),
        mm_tokens_per_image=MM_TOKENS,
        boi_token_index=ids["boi_token"],
        eoi_token_index=ids["eoi_token"],
        image_token_index=ids["image_token"],
        tie_word_embeddings=True,
        **special,
    )
    torch.manual_seed(0)
    # built in bf16 from the start: the 27B's text decoder in fp32 (108 GB) outgrows an 80 GB card
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Gemma3ForConditionalGeneration(cfg).to(torch.bfloat16)
    finally:
        torch.set_default_dtype(default)
    # small shards: each is copied to host memory whole before it is written (54 GB for the 27B)
    model.save_pretrained(str(folder), safe_serialization=True, max_shard_size="4GB")
    del model
    torch.cuda.empty_cache()
    size = {"height": VISION["image_size"], "width": VISION["image_size"]}
    image_processor = Gemma3ImageProcessor(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    Gemma3Processor(image_processor=image_processor, tokenizer=tok, image_seq_length=MM_TOKENS).save_pretrained(
        str(folder)
    )
    tok.save_pretrained(str(folder))
    image_processor.to_json_file(str(folder / "preprocessor_config.json"))
    return folder
