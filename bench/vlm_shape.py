"""A random-init Gemma 3 4B-it of the real layout, for the benchmark (torch inside the function).

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


def build_gemma3_4b(folder: Path, device: str = "cuda") -> Path:
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
        text_config=dict(TEXT, **special),
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
