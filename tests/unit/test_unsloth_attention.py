"""FORGE_ATTENTION: the attention forge asks Unsloth for; unset, Unsloth keeps its own pick."""

from __future__ import annotations

import json

from forge.train.backends.unsloth import attention_for


def _folder(tmp_path, config):
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_unset_leaves_unsloths_choice(tmp_path, monkeypatch):
    # on the H200 Unsloth's flex_attention for Gemma 3 compiles for minutes but ran fastest once
    # compiled (docs/gpu-validation.md), so forge does not override it by default
    monkeypatch.delenv("FORGE_ATTENTION", raising=False)
    for model_type in ("gemma3", "gemma3_text", "llama"):
        assert attention_for(_folder(tmp_path, {"model_type": model_type})) == (None, "")


def test_the_switch_is_passed_on_with_the_family_in_the_note(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGE_ATTENTION", "sdpa")
    choice, why = attention_for(_folder(tmp_path, {"model_type": "gemma3"}))
    assert choice == "sdpa"
    assert "gemma3" in why and "FORGE_ATTENTION" in why


def test_a_folder_without_config_still_takes_the_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGE_ATTENTION", " eager ")
    choice, why = attention_for(tmp_path / "missing")
    assert choice == "eager" and "this model" in why
