"""Which attention forge asks Unsloth for: SDPA for the Gemma 3 family, read from config.json."""

from __future__ import annotations

import json

import pytest

from forge.train.backends.unsloth import attention_for


def _folder(tmp_path, config):
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "gemma3_text"},  # Gemma 3 1B / 270M text
        {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text"}},  # 4B+ with vision
    ],
)
def test_gemma3_gets_sdpa_with_the_reason(tmp_path, config, monkeypatch):
    monkeypatch.delenv("FORGE_GEMMA3_ATTENTION", raising=False)
    choice, why = attention_for(_folder(tmp_path, config))
    assert choice == "sdpa"
    assert "Gemma 3" in why and "FORGE_GEMMA3_ATTENTION=flex_attention" in why


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "gemma2"])
def test_other_families_keep_unsloths_choice(tmp_path, model_type):
    # Llama and Qwen go through forge's varlen adapter under Unsloth's own dispatch
    assert attention_for(_folder(tmp_path, {"model_type": model_type})) == (None, "")


def test_a_folder_name_does_not_decide(tmp_path):
    # the fact is the model's config.json, not a name that looks like Gemma
    folder = tmp_path / "gemma-3-4b-it"
    folder.mkdir()
    assert attention_for(_folder(folder, {"model_type": "llama"})) == (None, "")
    assert attention_for(tmp_path / "missing") == (None, "")


def test_the_user_can_give_unsloth_its_choice_back(tmp_path, monkeypatch):
    folder = _folder(tmp_path, {"model_type": "gemma3_text"})
    monkeypatch.setenv("FORGE_GEMMA3_ATTENTION", "flex_attention")
    assert attention_for(folder) == (None, "")
    monkeypatch.setenv("FORGE_GEMMA3_ATTENTION", "eager")
    assert attention_for(folder)[0] == "eager"
