"""One length for every packed micro-batch on flex attention (forge.train.backends.packed_shape):
the rule, the backend's use of it, that the padding changes no logit or loss, and that bench counts
the padding as padding."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from forge.train.backends.packed_shape import attention_of, fixed_packed_length

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def test_flex_attention_gets_the_micro_batch_capacity():
    assert fixed_packed_length("flex_attention", True, 5, 3072, env="") == 15360


@pytest.mark.parametrize("attention", ["sdpa", "eager", "flash_attention_2", None])
def test_other_attention_keeps_natural_lengths(attention):
    assert fixed_packed_length(attention, True, 5, 3072, env="") is None


def test_no_packing_no_fixed_length_whatever_is_asked():
    assert fixed_packed_length("flex_attention", False, 5, 3072, env="1") is None


def test_the_variable_turns_it_on_and_off():
    assert fixed_packed_length("sdpa", True, 2, 1024, env="1") == 2048
    assert fixed_packed_length("flex_attention", True, 2, 1024, env="0") is None
    assert fixed_packed_length("flex_attention", True, 2, 1024, env="off") is None


def test_the_variable_is_read_when_not_passed(monkeypatch):
    monkeypatch.setenv("FORGE_FIXED_PACKED_LENGTH", "0")
    assert fixed_packed_length("flex_attention", True, 2, 1024) is None
    monkeypatch.delenv("FORGE_FIXED_PACKED_LENGTH")
    assert fixed_packed_length("flex_attention", True, 2, 1024) == 2048


def test_a_vlm_is_read_at_its_text_model():
    vlm = SimpleNamespace(
        config=SimpleNamespace(
            _attn_implementation="sdpa", text_config=SimpleNamespace(_attn_implementation="flex_attention")
        )
    )
    assert attention_of(vlm) == "flex_attention"
    assert attention_of(SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))) == "sdpa"
    assert attention_of(object()) is None


def test_the_unsloth_backend_pads_from_the_settings_as_they_are_now():
    """An OOM retry halves the rows: the trainer it rebuilds pads to the new capacity."""
    from forge.config import validate_dict
    from forge.train.backends.unsloth import UnslothBackend

    backend = object.__new__(UnslothBackend)  # no Unsloth here: only the rule's wiring is tested
    backend.settings = SimpleNamespace(
        cfg=validate_dict(
            {
                "model": {"name": "builtin:tiny-gemma3", "max_seq_length": 1024},
                "training": {"packing": True, "per_device_train_batch_size": 4},
            }
        )
    )
    backend.attention = "flex_attention"
    assert backend._fixed_packed_length() == 4096
    backend.settings.cfg = backend.settings.cfg.model_copy(
        update={"training": backend.settings.cfg.training.model_copy(update={"per_device_train_batch_size": 2})}
    )
    assert backend._fixed_packed_length() == 2048
    backend.attention = "sdpa"
    assert backend._fixed_packed_length() is None


@pytest.mark.parametrize("attention", ["flex_attention", "sdpa"])
def test_padding_the_flattened_row_changes_no_logit_and_no_loss(attention):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from forge.models.loader import resolve_model_path

    model = AutoModelForCausalLM.from_pretrained(
        resolve_model_path("builtin:tiny-gemma3"), attn_implementation=attention, dtype=torch.float32
    ).eval()
    rows = [{"input_ids": list(range(5, 5 + n)), "seq_lengths": [n // 2, n - n // 2]} for n in (20, 31)]
    for r in rows:
        r["labels"] = list(r["input_ids"])
    out = {}
    for multiple in (None, 2 * 40):
        collate = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True, pad_to_multiple_of=multiple)
        batch = collate([dict(r) for r in rows])
        with torch.no_grad():
            res = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=batch["labels"])
        out[multiple] = (batch, res)
    natural, fixed = out[None], out[80]
    assert natural[0]["input_ids"].shape == (1, 51) and fixed[0]["input_ids"].shape == (1, 80)
    assert (fixed[0]["labels"][0, 51:] == -100).all()
    assert torch.allclose(natural[1].logits[0], fixed[1].logits[0, :51], atol=1e-5)
    assert abs(float(natural[1].loss) - float(fixed[1].loss)) < 1e-6

    from bench.arm import count_tokens

    real, trained, total = count_tokens(fixed[0], 0).tolist()
    assert (real, total) == (51, 80)
    assert count_tokens(natural[0], 0).tolist()[0] == 51
    assert trained == count_tokens(natural[0], 0).tolist()[1]
