"""Unsloth's stand-ins (a hub id's pre-quantised -bnb-4bit repository, a private FP8 copy) are not
what the adapter names: export and evaluate judge the recorded base against model.name
(forge.models.adapter_base) and refuse a stranger, so the backend records the configured model."""

import inspect
import json
from types import SimpleNamespace

import pytest

from forge.errors import ForgeError
from forge.models.adapter_base import adapter_base
from forge.models.loader import resolve_model_path


def _adapter(folder, base):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 8)
    return folder


def test_the_stand_in_is_refused_and_the_configured_base_accepted(tmp_path):
    from forge.train.backends.unsloth import _name_configured_base

    name = "builtin:tiny-llama"
    stand_in = "unsloth/tiny-llama-unsloth-bnb-4bit"  # what PEFT records after Unsloth's remap
    with pytest.raises(ForgeError) as e:
        adapter_base(_adapter(tmp_path / "a", stand_in), name)
    assert e.value.kind == "adapter_mismatch"

    peft_cfg = SimpleNamespace(base_model_name_or_path=stand_in)
    _name_configured_base(SimpleNamespace(peft_config={"default": peft_cfg}), resolve_model_path(name))
    base = adapter_base(_adapter(tmp_path / "b", peft_cfg.base_model_name_or_path), name)
    assert base.name == name


def test_the_backend_names_the_configured_base_for_every_precision():
    from forge.train.backends.unsloth import UnslothBackend

    src = inspect.getsource(UnslothBackend.load)
    line = next(ln for ln in src.splitlines() if "_name_configured_base(" in ln)
    # not under `if m.load_in_fp8:` as before: the 4-bit hub remap needs it too
    assert line.startswith(" " * 8 + "_name_configured_base(")
