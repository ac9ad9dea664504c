"""FLOPs per trained token and MFU, by the two conventions the benchmark reports (pure: no torch).

- **4N** (forge's headline since issue 8): 4 x N per token, N = matmul parameters (decoder linears
  + LM head). LoRA freezes the base, so its weights get no gradient: forward (2N) plus the backward
  to the activations (2N). Attention and the LoRA matrices are left out, so it undercounts a little.
- **NeMo AutoModel's LoRA count** (nemo_automodel/recipes/llm/benchmark.py, `BenchmarkingRecipe`
  .setup): the full fine-tuning model FLOPs of its flops_utils formulas (6 x N per token plus
  causal attention, 6 x layers x q_dim x seq_len per token: `llama3_flops` / `qwen3_flops` reduce
  to this), multiplied by (2 + lora/frozen) / 3, where lora / frozen are the trainable and the
  frozen parameter counts. Its reasoning: forward and backward-to-inputs cost the same as in full
  fine-tuning, the backward-to-weights only scales with the trainable share. Its benchmarks use
  fixed-length sequences; ours are packed examples of varying length, so its seq_len becomes
  2 x A (A = mean positions a token attends to inside its own example), which gives the same
  causal attention FLOPs.

MFU = tokens/s x FLOPs per token / peak. The peak is the dense bf16 rate of an H100/H200 SXM,
989 TFLOP/s, for every arm, FP8 ones too: the FP8 arms run the base forward in FP8 and everything
else (backward, LoRA, attention) in bf16, so a bf16 denominator keeps the arms comparable.
"""

from __future__ import annotations

PEAK_TFLOPS = 989.0  # H100/H200 SXM dense bf16, the denominator of every MFU figure here


def flops_4n(shape) -> float:
    """Per token: 4 x matmul parameters (decoder linears + LM head); attention excluded."""
    return 4.0 * shape.matmul_params


def attention_flops(shape, attended: float, factor: float) -> float:
    """Causal attention per token: factor x q_dim x layers x attended (QK^T and PV, each 2 FLOPs a MAC)."""
    return factor * shape.q_dim * shape.layers * attended


def flops_full(shape, lora_r: int, targets, attended: float) -> float:
    """Per token: 4N + 6 x LoRA parameters + causal attention (12 x q_dim x layers x mean attended).

    `attended` is the mean number of earlier positions a trained token attends to inside its own
    example, sum(len^2 / 2) / sum(len). Recomputation by gradient checkpointing is not counted (it is
    overhead, not model FLOPs).
    """
    return flops_4n(shape) + 6.0 * shape.lora_params(lora_r, targets) + attention_flops(shape, attended, 12.0)


def flops_nemo_lora(shape, lora_r: int, targets, attended: float) -> float:
    """Per token, NeMo AutoModel's LoRA-adjusted count: (6N + attention) x (2 + lora/frozen) / 3.

    Attention at NeMo's 6 x layers x q_dim x seq_len with seq_len = 2 x attended (see the module
    docstring); frozen = every parameter but the LoRA ones (embeddings and any vision tower too,
    as `print_trainable_parameters` counts them).
    """
    lora = shape.lora_params(lora_r, targets)
    frozen = shape.params
    full = 6.0 * shape.matmul_params + attention_flops(shape, 2.0 * attended, 6.0)
    return full * (2.0 + lora / frozen) / 3.0


def mfu(tokens_per_s: float, flops_per_token: float, peak_tflops: float = PEAK_TFLOPS) -> float:
    return tokens_per_s * flops_per_token / (peak_tflops * 1e12)
