"""A missing model gets suggestions that exist here, and check does not tick what needs the model.

Issue 28 (7): `builtin:tiny-lama` got no "did you mean"; the missing default model suggested
itself (`unsloth/gemma-3-4b-it`); `meta-llama/Llama-9-999B` suggested an invented
`unsloth/Llama-9-999B`; check ticked "chat template suits the model" for a model not there.
"""

from __future__ import annotations

import json

import pytest

from forge.cli import main
from forge.models.names import BUILTINS, suggestions


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A Hugging Face cache with one model in it, and the hub off: no network in tests."""
    cache = tmp_path / "hf"
    snap = cache / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (cache / "models--broken--download").mkdir()  # no snapshot: does not load, never suggested
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_suggestions_are_names_that_exist_and_never_the_name(empty_hub):
    assert suggestions("builtin:tiny-lama")[0] == "builtin:tiny-llama"
    assert "unsloth/gemma-3-4b-it" not in suggestions("unsloth/gemma-3-4b-it")
    assert suggestions("meta-llama/Llama-9-999B") == []  # nothing close exists: no invented unsloth/ name
    assert suggestions("qwen/qwen2.5-0.5b-instruct") == ["Qwen/Qwen2.5-0.5B-Instruct"]  # the cache, by its case
    assert suggestions("Qwen/Qwen2.5-0.5B-Instruct") == []  # never itself
    assert suggestions("broken/download") == []
    assert all(s in BUILTINS or s.startswith("Qwen/") for s in suggestions("builtin:gema-3-270m"))


def _check(root, model, capsys) -> dict:
    rc = main(["check", str(root), "--json", "--set", f"model.name={model}"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    return {i["name"]: i for items in out["sections"].values() for i in items}


def test_check_says_did_you_mean_and_skips_what_needs_the_model(project, empty_hub, capsys):
    items = _check(project.root, "builtin:tiny-lama", capsys)
    assert "did you mean 'builtin:tiny-llama'?" in items["model found"]["detail"]
    assert items["model found"]["status"] == "fail"
    template = items["chat template suits the model"]
    assert template["status"] == "skip" and "not checked" in template["detail"]
    assert not [i for i in items.values() if i["status"] == "ok" and i["name"] in ("model suits the hardware",)]


@pytest.mark.parametrize("model", ["meta-llama/Llama-9-999B", "unsloth/gemma-3-4b-it"])
def test_a_missing_hub_model_suggests_no_invented_name_nor_itself(project, empty_hub, model, capsys):
    items = _check(project.root, model, capsys)
    found = items["model found"]
    assert found["status"] == "fail"
    text = found["detail"] + (found["fix"] or "")
    assert "unsloth/Llama-9-999B" not in text
    assert f"try {model}" not in text and f"mean {model!r}" not in text
    assert "builtin:tiny-llama" in found["fix"]
    assert items["chat template suits the model"]["status"] == "skip"


def test_the_loader_error_names_only_existing_models(empty_hub):
    from forge.models.loader import ModelNotFound, resolve_model_path

    with pytest.raises(ModelNotFound) as e:
        resolve_model_path("meta-llama/Llama-9-999B")
    assert "unsloth/" not in e.value.fix and "meta-llama/Llama-9-999B" not in e.value.fix
    with pytest.raises(ModelNotFound) as e:
        resolve_model_path("builtin:tiny-lama")
    assert "did you mean 'builtin:tiny-llama'?" in e.value.message
