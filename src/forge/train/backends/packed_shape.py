"""One length for every packed micro-batch where the model's compiled graphs specialise on it (pure).

Why: with packing, TRL's padding-free collator flattens a micro-batch's rows into one sequence
whose length is the sum of the rows', so nearly every step has a new length. On the lent H200
(torch 2.11, Unsloth 2026.10.9, 2026-12-02; docs/benchmarks.md, sixth session) the Gemma 3 4B-it
shape on Unsloth's default path (flex_attention inside the per-decoder-block torch.compile) ran
its profiled steps at 0.71 s each, yet averaged 9.2 s a step over the measured minute: the stack
samples show Inductor compiling a new backward graph again and again, one per new length (the
BlockMask carries the lengths). Padding the flattened sequence up to the micro-batch's capacity
(rows x max_seq_length) gives one shape, so one graph serves every step.

Measured in the next call on the same card: 22,003 real tokens/s against 1,614 (60 steps at
0.686 s). The cost is the padding: best-fit packing leaves the rows nearly full, so 1.8% of the
tokens computed were padding there. The pad tokens get position 0 each and label -100:
transformers' packed mask puts each in a document of its own, and the loss never sees them
(tests/unit/test_packed_shape.py: logits and loss unchanged).

Where the attention is not flex (sdpa, eager, flash varlen), graphs take the length as a dynamic
size and settle after a recompile or two, so the batch keeps its natural length there.
`FORGE_FIXED_PACKED_LENGTH=1` asks for the fixed length everywhere, `=0` nowhere.
"""

from __future__ import annotations

import os

ENV = "FORGE_FIXED_PACKED_LENGTH"

# attention implementations whose compiled graphs are specialised on the packed length
LENGTH_SPECIALISED = frozenset({"flex_attention"})


def fixed_packed_length(
    attention: str | None, packing: bool, rows: int, max_seq_length: int, env: str | None = None
) -> int | None:
    """The length every packed micro-batch is padded to, or None to keep natural lengths.

    `attention` is the model's attention implementation as loaded (config._attn_implementation);
    `rows` the micro-batch size. `env` defaults to the FORGE_FIXED_PACKED_LENGTH variable."""
    if not packing or rows < 1 or max_seq_length < 1:
        return None
    asked = (os.environ.get(ENV, "") if env is None else env).strip().lower()
    if asked in ("0", "false", "no", "off"):
        return None
    if asked in ("1", "true", "yes", "on") or (attention or "") in LENGTH_SPECIALISED:
        return rows * max_seq_length
    return None


def attention_of(model) -> str | None:
    """The attention implementation a loaded model runs (a VLM's text model may differ from its top)."""
    config = getattr(model, "config", None)
    for cfg in (getattr(config, "text_config", None), config):
        impl = getattr(cfg, "_attn_implementation", None)
        if impl:
            return str(impl)
    return None


def note(length: int, rows: int, max_seq_length: int, attention: str | None) -> str:
    """The run's note: what was fixed, why, and how to turn it off."""
    return (
        f"packed batches: every micro-batch padded to {length:,} tokens ({rows} x {max_seq_length:,}) "
        f"so {attention or 'this attention'}'s compiled graphs see one length instead of compiling "
        f"one per length; {ENV}=0 keeps natural lengths"
    )
