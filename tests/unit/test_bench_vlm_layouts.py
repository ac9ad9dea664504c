"""The bench's Gemma 3 -it layouts (bench/vlm_shape.py) come from the table the plan sizes them
with (forge.models.shape): a decoder built from them has the parameters the plan counts, so a
tier measured on the GPU is the tier the plan estimated (issue 32's 12B-it and 27B-it rows)."""

from __future__ import annotations

import pytest
from bench.common import MODELS
from bench.vlm_shape import TEXT, text_config

from forge.models.shape import SHAPES, SIGLIP_GEMMA3


def test_the_4b_layout_is_the_hand_written_config():
    assert text_config("gemma-3-4b") == TEXT


def test_the_27b_keeps_its_published_query_scale():
    t = text_config("gemma-3-27b")
    assert (t["hidden_size"], t["num_hidden_layers"], t["head_dim"]) == (5376, 62, 128)
    assert t["query_pre_attn_scalar"] == 168  # hidden / heads, not head_dim (the 4B's and 12B's rule)
    assert text_config("gemma-3-12b")["query_pre_attn_scalar"] == 256


@pytest.mark.parametrize("key", ["gemma-4b", "gemma-12b", "gemma-27b"])
def test_each_layout_has_the_parameters_the_plan_counts(key):
    torch = pytest.importorskip("torch")
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    shape_name = MODELS[key][0]
    with torch.device("meta"):  # no memory: the 27B's shapes only
        model = Gemma3ForCausalLM(Gemma3TextConfig(**text_config(shape_name)))
    text = sum(p.numel() for p in model.parameters())
    s = SHAPES[shape_name]
    tower = SIGLIP_GEMMA3 + 1152 * s.hidden  # the tower and the projector, as the table counts them
    assert abs(text + tower - s.params) / s.params < 0.01


@pytest.mark.parametrize("name", ["llama-3.2-1b", "llama-3.1-8b", "gemma-3-27b", "qwen2.5-7b"])
def test_config_sizes_read_back_as_the_same_shape(name):
    from forge.models.shape import from_config

    s = SHAPES[name]
    back = from_config({**s.config_sizes(), "vocab_size": s.vocab})
    assert back.config_sizes() == s.config_sizes()
