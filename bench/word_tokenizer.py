"""The benchmark's word-level tokenizer: a fixed vocabulary of made-up words, so that a turn of N
words is exactly N tokens (bench/common.py's synthetic data, bench/vlm_shape.py's Gemma 3 4B)."""

from __future__ import annotations

import random
from pathlib import Path

N_WORDS = 4000
SPECIALS = [
    "<pad>",
    "<unk>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<bos>",
    "<eos>",
    "<start_of_turn>",
    "<end_of_turn>",
]
ROLE_WORDS = ["user", "assistant", "system", "model", "ipython"]


def words() -> list[str]:
    rng = random.Random(1234)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = set()
    while len(out) < N_WORDS:
        out.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    return sorted(out)


def build_tokenizer(folder: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + ROLE_WORDS + words())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        additional_special_tokens=SPECIALS[2:],
    )
    fast.save_pretrained(str(folder))
    return fast
