"""One reader of a model's own files: export, the Unsloth backend and planning ask models/facts.py.

Is there a vision tower, which dtype the weights are stored in, which chat template is the
model's own: each is answered once (has_vision, stored_dtype, own_chat_template) and every caller
gives the same answer for the same folder, including a folder whose config.json is unreadable.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import pytest
from model_folders import make_chatml, make_gemma

from forge.config import validate_dict
from forge.models.facts import has_vision, model_config, own_chat_template, read_facts, stored_dtype, vision_config

VISION = {"hidden_size": 32, "num_hidden_layers": 2, "image_size": 64, "patch_size": 8}


def _set_config(folder: Path, **extra) -> Path:
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, **extra}))
    return folder


def _vlm(folder: Path) -> Path:
    return _set_config(make_gemma(folder), vision_config=VISION, architectures=["Gemma3ForConditionalGeneration"])


def _text(folder: Path) -> Path:
    return make_chatml(folder)


def _unreadable(folder: Path) -> Path:
    make_chatml(folder)
    (folder / "config.json").write_text('{"vision_config": {')  # truncated mid-write
    return folder


def _not_an_object(folder: Path) -> Path:
    make_chatml(folder)
    (folder / "config.json").write_text('["vision_config"]')
    return folder


def _no_config(folder: Path) -> Path:
    make_chatml(folder)
    (folder / "config.json").unlink()
    return folder


FOLDERS = {"vlm": (_vlm, True), "text": (_text, False), "unreadable": (_unreadable, False)}
FOLDERS |= {"not-an-object": (_not_an_object, False), "no-config": (_no_config, False)}


@pytest.fixture(params=sorted(FOLDERS))
def folder(request, tmp_path):
    make, vision = FOLDERS[request.param]
    return make(tmp_path / request.param), vision


# ---------------------------------------------------------------- the one function


def test_has_vision_reads_the_vision_config(folder):
    path, vision = folder
    assert has_vision(path) is vision
    assert has_vision(str(path)) is vision  # a folder given as a name: the same answer


def test_read_facts_says_what_has_vision_says(folder):
    path, vision = folder
    facts = read_facts(str(path))
    assert facts.vision_tower is vision and facts.is_vision is vision


def test_processor_files_alone_are_not_a_vision_tower(tmp_path):
    # an audio model ships preprocessor_config.json too; only config.json's vision_config decides
    path = make_chatml(tmp_path / "audio-like")
    (path / "preprocessor_config.json").write_text(json.dumps({"feature_extractor_type": "WhisperFeatureExtractor"}))
    facts = read_facts(str(path))
    assert facts.processor and not facts.is_vision and not has_vision(path)


def test_a_model_not_on_disk_is_judged_by_the_name_table():
    assert read_facts("google/gemma-3-4b-it-not-cached-anywhere").is_vision
    assert not read_facts("Qwen/Qwen2.5-0.5B-Instruct-not-cached-anywhere").is_vision
    assert not has_vision("google/gemma-3-4b-it-not-cached-anywhere")  # no files: nothing to load either


def test_an_unreadable_config_is_no_model_config_and_no_shape(tmp_path):
    path = _unreadable(tmp_path / "m")
    assert model_config(path) is None and vision_config(path) == {} and stored_dtype(path) is None
    facts = read_facts(str(path))
    assert facts.shape is None and facts.problem and facts.architecture is None
    with pytest.raises(ValueError):
        model_config(path, strict=True)
    with pytest.raises(OSError):
        model_config(tmp_path / "nowhere", strict=True)


def test_the_hf_cache_is_looked_up_as_read_facts_does(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    repo = tmp_path / "hub" / "models--someone--tiny-vlm"
    _vlm(repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert read_facts("someone/tiny-vlm").folder == str(repo / "snapshots" / "abc123")
    assert has_vision("someone/tiny-vlm") and vision_config("someone/tiny-vlm")["image_size"] == 64
    assert not has_vision("someone/not-cached")


# ---------------------------------------------------------------- the callers agree


def _export_vision(tmp_path: Path, base: Path) -> bool:
    """export's plan step on an adapter trained on `base`: the vision decision it records."""
    from forge.export.job import ExportJob
    from forge.export.steps_model import plan
    from forge.project import Project

    project = Project(tmp_path / "proj")
    cfg = validate_dict({"model": {"name": str(base)}})
    lora = project.path(cfg.save.lora_path)
    lora.mkdir(parents=True)
    (lora / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    # a whole (tiny) safetensors file: export names a truncated adapter before its plan step
    import numpy as np
    from safetensors.numpy import save_file

    save_file(
        {"base_model.model.lora_A.weight": np.zeros((1, 1), dtype=np.float32)}, str(lora / "adapter_model.safetensors")
    )
    job = ExportJob(project, cfg, True, [], lambda msg: None)
    plan(job)
    return job.vision


class _Chosen(Exception):
    pass


def _unsloth_vision(monkeypatch, base: Path) -> bool:
    """The Unsloth backend's loader choice for `base`: FastModel (vision) or FastLanguageModel."""
    from forge.train.backends import Backend
    from forge.train.backends.unsloth import UnslothBackend

    def loader(name):
        def from_pretrained(**kw):
            raise _Chosen(name)

        return type(name, (), {"from_pretrained": staticmethod(from_pretrained)})

    fake = types.ModuleType("unsloth")
    fake.FastModel, fake.FastLanguageModel = loader("FastModel"), loader("FastLanguageModel")
    monkeypatch.setitem(sys.modules, "unsloth", fake)
    backend = object.__new__(UnslothBackend)  # its constructor imports the real Unsloth (a GPU)
    Backend.__init__(backend, validate_dict({"model": {"name": str(base)}}), logging.getLogger("t"), base)
    with pytest.raises(_Chosen) as chosen:
        backend.load()
    return str(chosen.value) == "FastModel"


def test_export_and_the_unsloth_backend_make_the_same_vision_decision(folder, tmp_path, monkeypatch):
    path, vision = folder
    assert _export_vision(tmp_path, path) is vision
    assert _unsloth_vision(monkeypatch, path) is vision
    assert read_facts(str(path)).is_vision is vision


@pytest.mark.parametrize(
    "extra,expected",
    [
        ({"dtype": "bfloat16"}, "bfloat16"),
        ({"torch_dtype": "float16"}, "float16"),
        ({"text_config": {"dtype": "float16"}}, "float16"),
        ({"dtype": "float32"}, "bfloat16"),  # not 16-bit: the merged model is saved in bfloat16
        ({}, "bfloat16"),
    ],
)
def test_the_merged_dtype_is_the_stored_dtype_facts_read(tmp_path, extra, expected):
    from forge.export.merge import save_dtype_name

    path = _set_config(make_chatml(tmp_path / "m"), **extra)
    assert save_dtype_name(str(path), None) == expected
    assert read_facts(str(path)).dtype == stored_dtype(path)
    assert save_dtype_name(str(path), "float16") == "float16"  # the config's 16-bit dtype wins


def test_an_unreadable_config_merges_in_bfloat16(tmp_path):
    from forge.export.merge import save_dtype_name

    assert save_dtype_name(str(_unreadable(tmp_path / "m")), None) == "bfloat16"
    assert save_dtype_name(str(tmp_path / "nowhere"), None) == "bfloat16"


@pytest.mark.parametrize(
    "files,own",
    [
        ({"chat_template.jinja": "J", "tokenizer_config.json": {"chat_template": "TC"}}, "J"),
        ({"tokenizer_config.json": {"chat_template": "TC"}}, "TC"),
        (
            {
                "tokenizer_config.json": {
                    "chat_template": [{"name": "x", "template": "X"}, {"name": "default", "template": "D"}]
                }
            },
            "D",
        ),
        ({"tokenizer_config.json": {}, "chat_template.json": {"chat_template": "CJ"}}, "CJ"),
        ({"tokenizer_config.json": "{not json"}, None),
        ({"tokenizer_config.json": {"chat_template": "   "}}, None),
        ({}, None),
    ],
)
def test_the_own_template_export_keeps_is_the_one_read_facts_reads(tmp_path, files, own):
    path = make_gemma(tmp_path / "m")
    (path / "tokenizer_config.json").unlink()
    for name, content in files.items():
        (path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    assert own_chat_template(path) == own
    assert read_facts(str(path)).chat_template == own


def test_export_keeps_a_processor_template_read_facts_calls_the_models_own(tmp_path):
    from forge.export.template_choice import keep_template
    from forge.models.templates import TEMPLATES

    path = make_gemma(tmp_path / "m")
    official = TEMPLATES["gemma-3"].jinja + "{# the processor's copy #}"
    (path / "chat_template.json").write_text(json.dumps({"chat_template": official}))
    special = {"bos_token": "<bos>", "eos_token": "<eos>"}
    kept, note = keep_template(TEMPLATES["gemma-3"].jinja, path, special)
    assert kept == official == read_facts(str(path)).chat_template and "own template" in note


def test_the_mmproj_check_reads_the_merged_vision_config(tmp_path):
    from forge.export.verify_vision import mmproj_metadata_check

    merged = _vlm(tmp_path / "merged")
    meta = {"general.architecture": "clip", "clip.has_vision_encoder": True, "clip.projector_type": "gemma3"}
    meta |= {"clip.vision.image_size": 64, "clip.vision.patch_size": 8, "clip.vision.block_count": 2}
    assert mmproj_metadata_check(meta, merged)["ok"]
    assert not mmproj_metadata_check({**meta, "clip.vision.image_size": 896}, merged)["ok"]
    # a merged folder whose config.json went missing or bad still stops the export, as before
    (merged / "config.json").write_text("{")
    with pytest.raises(ValueError):
        mmproj_metadata_check(meta, merged)
    (merged / "config.json").unlink()
    with pytest.raises(FileNotFoundError):
        mmproj_metadata_check(meta, merged)


# ---------------------------------------------------------------- the built-in models


def _cached(name: str) -> bool:
    if name == "builtin:gemma-3-270m":
        try:
            from forge.models import builtin_gemma
        except ImportError:
            return False
        return builtin_gemma.is_cached()
    if name == "builtin:tiny-gemma3-vlm":
        from forge.models.builtin_vlm import MARKER, target_dir

        return (target_dir() / MARKER).exists()
    return True  # the tiny text models build in seconds


@pytest.mark.parametrize(
    "name,vision",
    [
        ("builtin:tiny-llama", False),
        ("builtin:tiny-gemma3", False),
        ("builtin:tiny-gemma3-vlm", True),
        ("builtin:gemma-3-270m", False),
    ],
)
def test_builtins_answer_the_same_by_name_and_by_folder(name, vision):
    from forge.export.merge import save_dtype_name
    from forge.export.template_choice import keep_template
    from forge.models.loader import resolve_model_path

    if not _cached(name):
        pytest.skip(f"{name} is not built here")
    path = resolve_model_path(name)
    facts = read_facts(name)
    assert has_vision(name) is has_vision(path) is facts.is_vision is vision
    assert stored_dtype(path) == facts.dtype == "float32" and save_dtype_name(path, None) == "bfloat16"
    assert own_chat_template(path) == facts.chat_template and facts.chat_template
    assert keep_template(facts.chat_template, path, dict(facts.specials)) == (facts.chat_template, None)
