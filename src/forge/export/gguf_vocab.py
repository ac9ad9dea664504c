"""The added tokens of a SentencePiece vocabulary, as llama.cpp's converter would mark them from a
transformers 4 folder (torch-free).

The converter reads a tokenizer's added tokens (`<start_of_image>`, `<end_of_image>`, Gemma 3's
`<image_soft_token>`) from `tokenizer_config.json`'s `added_tokens_decoder`. transformers 5 no
longer writes that key: it keeps them in `tokenizer.json` only, so a merged folder saved by it gave
a GGUF in which `<start_of_image>` was an ordinary piece. llama.cpp then spelled it out as the
seven pieces of the text `<start_of_image>` (found by the image-answer check: mtmd's prompt
differed from the processor's), and Ollama or llama-server users prompting with it got the same.
Here the converter's own rule is applied to tokenizer.json's added tokens when the config lacks
them: special, or looking special, is a control token; any other is user-defined.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

CONTROL, USER_DEFINED = 3, 4  # gguf.TokenType (the converter's SentencePieceTokenTypes)


def mark_added_tokens(
    model_dir: Path,
    tokens: list[bytes],
    scores: list[float],
    toktypes: list[int],
    looks_special: Callable[[str], bool],
) -> int:
    """Mark tokenizer.json's added tokens in place, unless tokenizer_config.json lists them itself
    (then the converter did). Returns how many were marked."""
    config = model_dir / "tokenizer_config.json"
    if config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("added_tokens_decoder"):
        return 0
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return 0
    added = json.loads(path.read_text(encoding="utf-8")).get("added_tokens") or []
    n = 0
    for entry in added:
        tid, text = entry.get("id"), entry.get("content")
        if not isinstance(tid, int) or not isinstance(text, str) or not 0 <= tid < len(tokens):
            continue
        if entry.get("special") or looks_special(text):
            toktypes[tid] = CONTROL
        else:
            text = text.replace("\u2581", " ")  # as the converter pre-normalizes user-defined spaces
            toktypes[tid] = USER_DEFINED
        tokens[tid] = text.encode("utf-8")
        scores[tid] = -1000.0
        n += 1
    return n
