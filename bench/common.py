"""Shared pieces of the GPU throughput benchmark: synthetic data, random-init models of real
shapes with a word-level tokenizer (bench/word_tokenizer.py), and the FLOP counts behind MFU.

Synthetic text uses a fixed vocabulary of made-up words and a word-level tokenizer, so that a turn
of N words is exactly N tokens: the length distribution below is the token distribution. The
models' vocabularies keep their real sizes (128,256 for Llama 3, 262,144 for Gemma 3), so the
embedding and the LM head cost what they cost in the real models; the tokenizer only uses the
first few thousand ids.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from bench.word_tokenizer import ROLE_WORDS, SPECIALS, build_tokenizer, words  # noqa: F401 (re-exported)

# model key -> (forge.plan.memory shape name, transformers family, chat template)
MODELS = {
    "llama-1b": ("llama-3.2-1b", "llama", "llama-3"),
    "llama-8b": ("llama-3.1-8b", "llama", "llama-3"),
    "gemma-270m": ("gemma-3-270m", "gemma3", "gemma-3"),
    # the model table's default, unsloth/gemma-3-4b-it: a vision-language model (bench/vlm_shape.py)
    "gemma-4b": ("gemma-3-4b", "gemma3-vlm", "gemma-3"),
    # the seed's larger tiers: the 12B-it's and 27B-it's decoders behind the same tower (54 GB of
    # bf16 for the 27B: FORGE_BENCH_MODELS=/dev/shm/... where the disk is smaller)
    "gemma-12b": ("gemma-3-12b", "gemma3-vlm", "gemma-3"),
    "gemma-27b": ("gemma-3-27b", "gemma3-vlm", "gemma-3"),
}


def _turn(rng: random.Random, vocab: list[str], mean: float, sigma: float = 0.6, cap: int = 4000) -> str:
    # lognormal with the given mean: mu = ln(mean) - sigma^2/2; the tail reaches a few times the mean
    n = int(min(cap, max(3, rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma))))
    return " ".join(rng.choice(vocab) for _ in range(n))


def make_chat(n: int, seed: int = 0) -> list[dict]:
    """Multi-turn chats: user turns ~80 tokens, assistant ~300, 1-6 exchanges, long tail."""
    rng, vocab = random.Random(seed), words()
    rows = []
    for _ in range(n):
        exchanges = 1
        while exchanges < 6 and rng.random() < 0.6:
            exchanges += 1
        conv = []
        for _ in range(exchanges):
            conv.append({"from": "human", "value": _turn(rng, vocab, 80)})
            conv.append({"from": "gpt", "value": _turn(rng, vocab, 300, 0.7)})
        rows.append({"conversations": conv})
    return rows


def make_alpaca(n: int, seed: int = 0) -> list[dict]:
    """Short single-turn instruction rows (Alpaca-like): instruction ~30, input ~20, output ~120."""
    rng, vocab = random.Random(seed), words()
    return [
        {
            "instruction": _turn(rng, vocab, 30),
            "input": _turn(rng, vocab, 20) if rng.random() < 0.4 else "",
            "output": _turn(rng, vocab, 120),
        }
        for _ in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def build_model(key: str, folder: Path, device: str = "cuda") -> Path:
    """A random-init model of the real shape, saved as bf16 safetensors with the bench tokenizer."""
    import torch

    from forge.plan.memory import SHAPES

    if (folder / "config.json").exists():
        return folder
    shape_name, family, _ = MODELS[key]
    if family == "gemma3-vlm":
        from bench.vlm_shape import build_gemma3_vlm

        return build_gemma3_vlm(folder, device, shape_name=shape_name)
    s = SHAPES[shape_name]
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    common = dict(
        **s.config_sizes(),
        vocab_size=s.vocab,
        tie_word_embeddings=s.tied,
        max_position_embeddings=s.max_positions,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    if family == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(rope_theta=500000.0, rms_norm_eps=1e-5, **common)
        cls = LlamaForCausalLM
    else:
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        cfg = Gemma3TextConfig(sliding_window=512, query_pre_attn_scalar=256, **common)
        cls = Gemma3ForCausalLM
    torch.manual_seed(0)
    with torch.device(device):
        model = cls(cfg).to(torch.bfloat16)
    model.save_pretrained(str(folder), safe_serialization=True)
    del model
    torch.cuda.empty_cache()
    return folder


# FLOPs and MFU live in bench/mfu.py; re-exported for older callers
from bench.mfu import PEAK_TFLOPS, flops_4n, flops_full  # noqa: E402,F401
