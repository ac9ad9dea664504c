"""Issue 15.1-15.3: the model's facts come from its own files; the template follows the model."""

from __future__ import annotations

import json

import pytest
from model_folders import make_chatml, make_gemma

from forge.config import validate_dict
from forge.errors import ForgeError
from forge.models.facts import read_facts
from forge.models.template_choice import marker_refusal, resolve_template
from forge.models.templates import response_markers, template_for
from forge.plan.hardware import GPUInfo, HardwareInfo
from forge.plan.resolve import resolve
from forge.plan.stats import DataStats

H100 = HardwareInfo(torch_version="2.x", gpus=[GPUInfo("NVIDIA H100 80GB HBM3", 79.1, "9.0", True)])
CPU = HardwareInfo(torch_version="2.x", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")


def test_facts_come_from_the_folders_files(tmp_path):
    folder = make_chatml(tmp_path / "qwen-like")
    f = read_facts(str(folder))
    assert f.source == "files" and f.architecture == "Qwen2ForCausalLM" and f.model_type == "qwen2"
    assert (f.shape.hidden, f.shape.layers, f.shape.vocab) == (32, 2, f.vocab_size)
    assert {"<|im_start|>", "<|im_end|>"} <= f.single_tokens
    assert f.eos_token == "<|im_end|>" and f.eos_tokens == ("<|im_end|>",)
    assert "<|im_start|>" in f.chat_template and f.end_of_turn == "<|im_end|>"


def test_a_folder_named_like_a_known_model_is_sized_by_its_config(tmp_path):
    # measured on 8bff25f: sized by the name's table entry (27B) instead of its config.json
    folder = make_chatml(tmp_path / "gemma-3-27b-it")
    cfg = validate_dict({"model": {"name": str(folder)}})
    p = resolve(cfg, DataStats(200, 10, [100] * 200), H100)
    assert p.shape.hidden == 32 and p.shape.source == "config.json"
    assert p.memory.weights_gb < 0.01


def test_a_local_folder_not_in_the_table_is_estimated(tmp_path):
    # measured on 8bff25f: "the shape of ... is unknown: memory and time are not estimated"
    folder = make_chatml(tmp_path / "my-own-model")
    p = resolve(validate_dict({"model": {"name": str(folder)}}), DataStats(200, 10, [100] * 200), H100)
    assert p.memory is not None and p.seconds
    assert not any("unknown" in n for n in p.notes)


def test_facts_from_the_hf_cache_layout_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    snap = tmp_path / "hub" / "models--someone--tiny-chat" / "snapshots" / "abc123"
    make_chatml(snap)
    (tmp_path / "hub" / "models--someone--tiny-chat" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--tiny-chat" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    f = read_facts("someone/tiny-chat")
    assert f.source == "files" and f.folder == str(snap) and f.shape.hidden == 32


def test_a_model_not_on_disk_falls_back_to_the_name_table():
    f = read_facts("unsloth/gemma-3-12b-it-not-cached-anywhere")
    assert f.source == "table" and f.shape.hidden == 3840 and f.problem


def test_builtin_resolves_to_its_folder():
    f = read_facts("builtin:tiny-llama")
    assert f.source == "files" and f.architecture == "LlamaForCausalLM" and f.end_of_turn == "<|eot_id|>"


def test_init_writes_auto(tmp_path):
    from forge.init.scaffold import init_project

    folder = make_chatml(tmp_path / "qwen")
    proj, _ = init_project(tmp_path / "proj", model=str(folder))
    data = json.loads(proj.config_file.read_text())
    assert data["dataset"]["chat_template"] == "auto"  # 8bff25f wrote "gemma-3" for any model


def test_auto_takes_the_models_own_template_and_derives_its_markers(tmp_path):
    f = read_facts(str(make_chatml(tmp_path / "qwen")))
    t, why = resolve_template("auto", f)
    assert t.name == "tokenizer" and "own chat template" in why
    assert t.eos_token == "<|im_end|>"
    assert response_markers(t, f) == ("<|im_start|>user\n", "<|im_start|>assistant\n")
    assert marker_refusal(t, f, "qwen") is None


def test_auto_without_a_template_takes_the_family_by_model_type(tmp_path):
    f = read_facts(str(make_gemma(tmp_path / "gemma")))
    t, why = resolve_template("auto", f)
    assert t.name == "gemma-3" and "model_type gemma3_text" in why


def test_existing_gemma3_configs_work_unchanged_on_gemma(tmp_path):
    f = read_facts(str(make_gemma(tmp_path / "gemma")))
    t, _ = resolve_template("gemma-3", f)
    assert marker_refusal(t, f, "gemma") is None


@pytest.mark.parametrize(
    "make,named,missing",
    [
        (make_gemma, "llama-3", "<|start_header_id|>, <|end_header_id|>, <|eot_id|>"),
        (make_chatml, "gemma-3", "<start_of_turn>, <end_of_turn>"),
    ],
)
def test_a_named_template_whose_markers_are_not_tokens_is_refused(tmp_path, make, named, missing):
    # measured on 8bff25f: trained the markers as 8-10 plain tokens each and exited 0
    f = read_facts(str(make(tmp_path / "m")))
    t, _ = resolve_template(named, f)
    message, fix = marker_refusal(t, f, "the model")
    assert missing in message and "not single tokens" in message
    assert "auto" in fix


def test_template_for_auto_on_a_loaded_tokenizer(tmp_path):
    from forge.plan.measure import offline_tokenizer

    tok = offline_tokenizer(str(make_chatml(tmp_path / "qwen")))
    assert template_for("auto", tok).name == "tokenizer"
    tok.chat_template = None
    assert template_for("auto", tok).name == "chatml"  # by the markers its vocabulary holds


def test_auto_with_neither_template_nor_family_is_refused(tmp_path):
    from model_folders import make_model

    f = read_facts(
        str(make_model(tmp_path / "m", specials=["<s>", "</s>"], model_type="mystery", chat_template=None, eos="</s>"))
    )
    with pytest.raises(ForgeError, match="no chat template"):
        resolve_template("auto", f)


def test_cpu_check_does_not_call_a_tiny_local_model_too_large(tmp_path):
    # measured on 8bff25f: "too large to fine-tune on a CPU" for a 300k-parameter local model
    folder = make_chatml(tmp_path / "llama-3.1-70b")
    p = resolve(
        validate_dict({"model": {"name": str(folder)}}), DataStats(200, 10, [100] * 200), CPU, as_configured=True
    )
    assert not [r for r in p.refusals if r.kind in ("memory", "sizes")]
