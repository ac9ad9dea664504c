"""The benchmark's MFU conventions (bench/mfu.py): pure arithmetic, checked against published figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.mfu import flops_4n, flops_full, flops_nemo_lora, mfu  # noqa: E402

from forge.plan.memory import SHAPES  # noqa: E402

ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def test_nemo_lora_count_reproduces_its_published_llama3_8b_figure():
    # NeMo AutoModel's Llama-3-8B LoRA (r=8, seq 4096, H100): 12,473 tokens/s at 40.6% MFU
    shape = SHAPES["llama-3-8b"]
    assert mfu(12473, flops_nemo_lora(shape, 8, ALL, 4096 / 2)) == pytest.approx(0.406, abs=0.0015)


def test_nemo_lora_count_is_two_thirds_of_full_finetuning_plus_the_trainable_share():
    shape = SHAPES["llama-3.2-1b"]
    lora = shape.lora_params(16, ALL)
    full = 6 * shape.matmul_params + 6 * shape.layers * shape.q_dim * 1000
    expected = full * (2 + lora / shape.params) / 3
    assert flops_nemo_lora(shape, 16, ALL, 500) == pytest.approx(expected)


def test_4n_count_and_the_full_count():
    shape = SHAPES["gemma-3-4b"]
    assert flops_4n(shape) == 4 * shape.matmul_params
    extra = 6 * shape.lora_params(16, ALL) + 12 * shape.q_dim * shape.layers * 450
    assert flops_full(shape, 16, ALL, 450) == pytest.approx(flops_4n(shape) + extra)
    # q_dim (8 heads x 256) differs from hidden (2560) in Gemma 3 4B: attention must use q_dim
    assert shape.q_dim == 2048 and shape.hidden == 2560


def test_nemo_count_exceeds_4n_by_its_attention_and_trainable_share():
    shape = SHAPES["llama-3.1-8b"]
    assert flops_nemo_lora(shape, 16, ALL, 0) > flops_4n(shape)  # (2 + lora/frozen)/3 x 6N > 4N
    assert flops_nemo_lora(shape, 16, ALL, 2000) > flops_nemo_lora(shape, 16, ALL, 0)
