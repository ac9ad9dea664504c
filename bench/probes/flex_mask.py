"""Time Gemma 3's flex-attention masks alone: how long the first build of each shape takes.

    python -m bench.probes.flex_mask --mode unsloth --out $OUT/mask-unsloth.json
    python -m bench.probes.flex_mask --mode eager --out $OUT/mask-eager.json

Why: on the lent H200 (2026-12-01) the Gemma 3 arms sat for minutes building one Triton kernel
of the block-mask creation (`triton_per_fused_..._index_put_..._sort_sum_...`, 90 s to 270 s of
one sample series; bench/results/2026-12-01-h200-s4-gemma-4b-c-stacks.txt). transformers builds
the mask with `create_block_mask(..., _compile=True)` and Unsloth compiles the whole mask function
once more (`dynamic=True`); with padding-free packing every batch has a new length, and eval
(no grad) and training (grad) are different graphs. This probe builds the full and the
sliding-window mask of packed batches of several lengths, each twice with grad and once without,
and writes the seconds of every call, so one short device call says what each path costs:

- `unsloth`: Unsloth imported first, its patched (compiled) mask functions, as `forge train` runs;
- `transformers`: transformers' own path (`torch.compile(create_block_mask)` inside);
- `eager`: the same functions with `create_block_mask(..., _compile=False)`: nothing compiled, the
  Q x KV mask materialised once per call (the memory it takes is recorded).

It loads no model and needs no weights; on a CPU the `eager` mode is what can run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path


def packed_positions(length: int, seed: int):
    """position_ids of several documents packed into one row, as padding-free packing makes them."""
    import torch

    rng = random.Random(seed)
    parts, left = [], length
    while left > 0:
        n = min(left, rng.randint(200, 1500))
        parts.append(torch.arange(n))
        left -= n
    return torch.cat(parts)[None, :]


def _mask_config(sliding_window: int):
    from transformers import Gemma3TextConfig

    config = Gemma3TextConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        vocab_size=128,
        sliding_window=sliding_window,
    )
    config._attn_implementation = "flex_attention"
    return config


def run(mode: str, lengths: list[int], sliding_window: int, device: str) -> dict:
    if mode == "unsloth":
        from forge.train.backends.unsloth import import_unsloth

        import_unsloth()  # its patches of transformers.masking_utils apply at import
    import torch
    import transformers.masking_utils as masking

    if mode == "eager":
        from torch.nn.attention.flex_attention import create_block_mask

        def eager_block_mask(*args, **kwargs):
            kwargs["_compile"] = False
            return create_block_mask(*args, **kwargs)

        masking.create_block_mask = eager_block_mask
    config = _mask_config(sliding_window)
    rows = []
    cuda = device.startswith("cuda")
    for i, length in enumerate(lengths):
        positions = packed_positions(length, seed=i).to(device)
        for phase, grad in (("train", True), ("train", True), ("eval", False)):
            embeds = torch.zeros(1, length, config.hidden_size, device=device, dtype=torch.bfloat16)
            embeds.requires_grad_(grad)
            for name in ("create_causal_mask", "create_sliding_window_causal_mask"):
                fn = getattr(masking, name)
                if cuda:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    before = torch.cuda.memory_allocated()
                t0 = time.perf_counter()
                with torch.set_grad_enabled(grad):
                    mask = fn(
                        config=config,
                        inputs_embeds=embeds,
                        attention_mask=None,
                        past_key_values=None,
                        position_ids=positions,
                    )
                if cuda:
                    torch.cuda.synchronize()
                row = {
                    "length": length,
                    "phase": phase,
                    "mask": name,
                    "seconds": round(time.perf_counter() - t0, 4),
                    "type": type(mask).__name__,
                }
                if hasattr(mask, "sparsity"):  # packed documents and the window leave blocks out
                    row["sparsity_pct"] = round(float(mask.sparsity()), 1)
                if cuda:
                    row["peak_extra_gb"] = round((torch.cuda.max_memory_allocated() - before) / 1e9, 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {
        "mode": mode,
        "device": torch.cuda.get_device_name() if cuda else device,
        "torch": torch.__version__,
        "unsloth_patched": bool(getattr(masking, "__unsloth_mask_patch__", False)),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("unsloth", "transformers", "eager"), required=True)
    ap.add_argument("--lengths", default="9216,8700,9100,3072", help="packed row lengths, comma-separated")
    ap.add_argument("--sliding-window", type=int, default=1024, help="Gemma 3 4B's is 1024")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    result = run(a.mode, [int(x) for x in a.lengths.split(",")], a.sliding_window, a.device)
    Path(a.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
