"""The one way forge asks a model for a greedy answer (evaluate's answers, export's checks)."""

from __future__ import annotations


def greedy_args(max_new_tokens: int, pad_token_id, eos_token_id) -> dict:
    """model.generate's arguments for a greedy answer. The sampling knobs are set to None, not left
    out: a model's generation_config may carry temperature / top_p / top_k for sampling, and with
    do_sample=False transformers warns about each on every call."""
    return {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "pad_token_id": pad_token_id,
        "eos_token_id": eos_token_id,
    }
