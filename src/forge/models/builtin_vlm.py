"""`builtin:tiny-gemma3-vlm`: a tiny Gemma3ForConditionalGeneration with the real Gemma 3 tokenizer.

The Gemma 3 4B/12B/27B-it models of forge's VRAM table are vision-language models: a Gemma 3
decoder, a SigLIP tower and a projector. This built-in has the same classes, file layout and
tokenizer at a size that trains and exports on a CPU in seconds, so every test of that path runs
without a GPU or a hub:

- weights: random, from a fixed seed (same bytes for the same seed), text and vision both tiny; the
  projector too (transformers leaves it at zeros, which would make every picture look the same);
- tokenizer: the real Gemma 3 vocabulary (262,144 pieces plus `<image_soft_token>` at 262144, as
  in gemma-3-4b-it), read from the GGUF of the demo extra's Gemma 3 270M package, both as
  tokenizer.json (what transformers loads) and as the SentencePiece `tokenizer.model` the Google
  checkpoints ship (what llama.cpp's converter reads for Gemma);
- processor: Gemma3Processor with a Gemma3ImageProcessor (processor_config.json and
  preprocessor_config.json), image tokens `<start_of_image>` / `<end_of_image>`;
- chat template: the official Gemma 3 template (list content, images), the copy TRL ships for
  identifying google/gemma-3-* checkpoints.

`build_vlm` also builds any other shape (the GPU validation builds the 4B-it layout with it).
Cached in `$FORGE_CACHE/builtin/tiny-gemma3-vlm-v3`, built in a temporary sibling and moved into
place with one os.replace. torch and transformers are imported inside functions only.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from forge.files import publish_built_folder
from forge.models.builtin_gemma import assemble_gguf, cache_root

NAME = "builtin:tiny-gemma3-vlm"
# v2: <unk> is the unknown piece of tokenizer.model (sentencepiece 0.2.2 refused v1); v3: a random
# projector (v2's was transformers' zeros: every picture gave the same, empty, image embeddings)
VERSION = "v3"
MARKER = "forge-builtin.json"
_UNKNOWN, _USER_DEFINED = 2, 4  # GGUF / SentencePiece piece types
IMAGE_TOKENS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}

# (text config, vision config, image tokens per image); vocab 262208 is gemma-3-4b-it's padded size
TINY = (
    dict(
        vocab_size=262208,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=128,
        max_position_embeddings=4096,
    ),
    dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8),
    16,
)
# unsloth/gemma-3-4b-it's config.json, written out by hand (no hub): for the GPU validation
GEMMA3_4B = (
    dict(
        vocab_size=262208,
        hidden_size=2560,
        intermediate_size=10240,
        num_hidden_layers=34,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=1024,
        max_position_embeddings=131072,
        rope_scaling={"rope_type": "linear", "factor": 8.0},
    ),
    dict(
        hidden_size=1152,
        intermediate_size=4304,
        num_hidden_layers=27,
        num_attention_heads=16,
        image_size=896,
        patch_size=14,
    ),
    256,
)


def target_dir() -> Path:
    return cache_root() / "builtin" / f"tiny-gemma3-vlm-{VERSION}"


def official_chat_template() -> str:
    """The chat template google/gemma-3-*-it ship (TRL keeps a verbatim copy to recognise them)."""
    from importlib.resources import files

    return files("trl").joinpath("chat_templates", "gemma3.jinja").read_text(encoding="utf-8")


def load_tiny_vlm_path() -> Path:
    """The cached folder; built once (about 20 s: most of it reading the 262k-piece vocabulary)."""
    target = target_dir()
    if (target / MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-gemma3-vlm-", dir=target.parent))
    try:
        model_dir = build_vlm(tmp / "model", TINY, gguf_dir=tmp / "gguf")
        (model_dir / MARKER).write_text(json.dumps({"name": NAME, "version": VERSION}) + "\n")
        publish_built_folder(model_dir, target, MARKER)  # atomic: absent or complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_vlm(
    out: Path,
    shape: tuple = TINY,
    *,
    gguf_dir: Path,
    seed: int = 0,
    device: Any = None,
    tokenizer_dir: Path | None = None,
) -> Path:
    """A Gemma3ForConditionalGeneration folder of `shape` (see TINY), random weights from `seed`.

    `tokenizer_dir`: take the tokenizer (and tokenizer.model) from a folder this function made
    before, instead of the GGUF package (a machine without the demo extra, e.g. the GPU one)."""
    import torch
    from transformers import (
        AutoTokenizer,
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
        GenerationConfig,
        SiglipVisionConfig,
    )
    from transformers import logging as hf_logging

    from forge.models.builtin_gemma import tokenizer_from_gguf

    text, vision, mm_tokens = shape
    reader = None
    if tokenizer_dir is None:
        import gguf  # only here: the GPU machine has no demo extra and passes tokenizer_dir

        reader = gguf.GGUFReader(str(assemble_gguf(gguf_dir)))
        tokenizer_dir = gguf_dir / "tokenizer"
        tokenizer_from_gguf(reader).save_pretrained(tokenizer_dir)
    # reloaded with the image tokens Gemma3Processor reads (boi/eoi/image): this adds
    # <image_soft_token> at id 262144, where gemma-3-4b-it has it
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), extra_special_tokens=dict(IMAGE_TOKENS))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<bos>", "<eos>", "<pad>", "<end_of_turn>")}
    config = Gemma3Config(
        text_config=dict(
            text,
            bos_token_id=ids["<bos>"],
            eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
            pad_token_id=ids["<pad>"],
        ),
        vision_config=SiglipVisionConfig(**vision, vision_use_head=False).to_dict(),
        mm_tokens_per_image=mm_tokens,
        boi_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKENS["boi_token"]),
        eoi_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKENS["eoi_token"]),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKENS["image_token"]),
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if device is not None and str(device).startswith("cuda") else torch.float32
    with torch.device(device or "cpu"):
        model = Gemma3ForConditionalGeneration(config).to(dtype)
    # transformers initialises Gemma 3's projector to zeros (a checkpoint always overwrites it): with it,
    # every picture maps to the same zero embeddings, so nothing downstream (training on the shapes
    # example, the export's image-answer check) could tell two pictures apart. Unit-variance image
    # embeddings, the scale of the decoder's scaled text embeddings at init; drawn after every other
    # weight, so those keep their bytes.
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, vision["hidden_size"] ** -0.5)
    model.config._name_or_path = NAME if shape is TINY else "gemma-3-vlm"
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<end_of_turn>"], ids["<eos>"]],
        pad_token_id=ids["<pad>"],
        do_sample=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    model.save_pretrained(out, safe_serialization=True)
    size = {"height": vision["image_size"], "width": vision["image_size"]}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "Gemma3ImageProcessor requires torchvision": the PIL one is used
    try:
        from transformers import Gemma3ImageProcessor

        image_processor = Gemma3ImageProcessor(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    finally:
        hf_logging.set_verbosity(verbosity)
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=official_chat_template(),
        image_seq_length=mm_tokens,
    )
    tokenizer.chat_template = processor.chat_template
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.to_json_file(str(out / "preprocessor_config.json"))  # vLLM and older readers look here
    if reader is not None:
        write_sentencepiece_model(reader, out / "tokenizer.model")
    else:
        shutil.copyfile(Path(tokenizer_dir) / "tokenizer.model", out / "tokenizer.model")
    return out


def write_sentencepiece_model(reader, path: Path) -> None:
    """The SentencePiece model of the GGUF vocabulary: the `tokenizer.model` Google's Gemma folders ship.

    GGUF token types are SentencePiece's piece types (1 normal, 2 unknown, 3 control, 4
    user-defined, 5 unused, 6 byte), so pieces, scores and types copy over one for one; the
    normalizer is Gemma's (no dummy prefix, spaces kept and written as U+2581, byte fallback).
    """
    from sentencepiece import sentencepiece_model_pb2 as pb

    fields = reader.fields
    tokens = list(fields["tokenizer.ggml.tokens"].contents())
    scores = list(fields["tokenizer.ggml.scores"].contents())
    types = list(fields["tokenizer.ggml.token_type"].contents())

    def special(key: str, default: int) -> int:
        f = fields.get(f"tokenizer.ggml.{key}")
        return int(f.contents()) if f is not None else default

    proto = pb.ModelProto()
    spec = proto.trainer_spec
    spec.model_type = pb.TrainerSpec.BPE
    spec.vocab_size = len(tokens)
    spec.byte_fallback = True
    spec.unk_id, spec.bos_id = special("unknown_token_id", 3), special("bos_token_id", 2)
    spec.eos_id, spec.pad_id = special("eos_token_id", 1), special("padding_token_id", 0)
    norm = proto.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = False
    norm.remove_extra_whitespaces = False
    norm.escape_whitespaces = True
    types[spec.unk_id] = _UNKNOWN  # the GGUF marks <unk> as control; SentencePiece needs one unknown piece
    for tok, score, ty in zip(tokens, scores, types, strict=True):
        piece = proto.pieces.add()
        # llama.cpp's converter writes user-defined pieces with plain spaces; SentencePiece keeps U+2581
        piece.piece = tok.replace(" ", "\u2581") if ty == _USER_DEFINED else tok
        piece.score, piece.type = float(score), int(ty)
    path.write_bytes(proto.SerializeToString())
