"""lora.finetune_* switches -> LoRA target modules (forge.train.lora_targets), on module name lists."""

from __future__ import annotations

import re

import pytest

from forge.config import validate_dict
from forge.errors import ForgeError
from forge.train.lora_targets import choose

# the nn.Linear paths of Gemma3ForConditionalGeneration (transformers 5) and of a Llama, 2 layers each
VLM = (
    [
        f"model.language_model.layers.{i}.{blk}.{leaf}"
        for i in range(2)
        for blk, leaves in (("self_attn", "q_proj k_proj v_proj o_proj"), ("mlp", "gate_proj up_proj down_proj"))
        for leaf in leaves.split()
    ]
    + [
        f"model.vision_tower.encoder.layers.{i}.{blk}.{leaf}"
        for i in range(2)
        for blk, leaves in (("self_attn", "q_proj k_proj v_proj out_proj"), ("mlp", "fc1 fc2"))
        for leaf in leaves.split()
    ]
    + ["lm_head"]
)
TEXT = [n.replace("model.language_model.", "model.") for n in VLM if "language_model" in n] + ["lm_head"]


def lora(**switches):
    return validate_dict({"lora": switches}).lora


def matched(spec, names):
    """The names PEFT would adapt for this target_modules spec (its own matching rules)."""
    if isinstance(spec, str):
        return [n for n in names if re.fullmatch(spec, n)]
    return [n for n in names if any(n == t or n.endswith("." + t) for t in spec)]


def test_default_keeps_the_vision_tower_out():
    t = choose(VLM, lora())
    assert t.has_vision and t.vision == 0
    got = matched(t.spec, VLM)
    assert got == t.names and len(got) == 14 and all("language_model" in n for n in got)
    # the old leaf list matched SigLIP's q/k/v too: 6 more modules, 12 more adapter tensors
    assert len(matched(list(lora().target_modules), VLM)) == 20


def test_vision_layers_on_adds_siglip_attention():
    t = choose(VLM, lora(finetune_vision_layers=True))
    assert t.vision == 6 and len(matched(t.spec, VLM)) == 20


@pytest.mark.parametrize("names", [VLM, TEXT], ids=["vlm", "text"])
def test_attention_and_mlp_switches(names):
    attn_only = matched(choose(names, lora(finetune_mlp_modules=False)).spec, names)
    mlp_only = matched(choose(names, lora(finetune_attention_modules=False)).spec, names)
    assert attn_only and all(".self_attn." in n for n in attn_only)
    assert mlp_only and all(".mlp." in n for n in mlp_only)
    assert len(attn_only) == 8 and len(mlp_only) == 6


def test_text_model_keeps_the_leaf_list_and_notes_vision():
    t = choose(TEXT, lora(finetune_vision_layers=True))
    assert t.spec == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert "no vision tower" in t.notes[0]


@pytest.mark.parametrize(
    "names,switches,words",
    [
        (TEXT, {"finetune_language_layers": False}, "no vision tower"),
        (VLM, {"finetune_language_layers": False, "finetune_vision_layers": False}, "both false"),
        (VLM, {"finetune_attention_modules": False, "finetune_mlp_modules": False}, "no LoRA target module"),
        (VLM, {"target_modules": ["qkv"]}, "qkv is not a layer of this model"),
    ],
)
def test_nothing_to_train_is_refused(names, switches, words):
    with pytest.raises(ForgeError) as e:
        choose(names, lora(**switches))
    assert words in e.value.message and e.value.fix and e.value.exit_code == 2
