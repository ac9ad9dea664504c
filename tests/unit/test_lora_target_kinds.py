"""lora.target_modules that PEFT/TRL cannot train as LoRA on this model are refused before any
weights load, in check and train alike, naming each one and the model's linear layers.

QA, 2026-12: `lora.target_modules=["lm_head"]` passed `forge check` and failed `forge train` after
the model loaded (TRL: "Applying a PEFT adapter to `lm_head` is not supported", rc 1, error_kind
"error"); a norm passed check and failed in PEFT ("Target module LlamaRMSNorm() is not supported");
`embed_tokens` passed check and was dropped by train without a word.
"""

from __future__ import annotations

import json
import struct

import pytest
from model_folders import llama_tensors

from forge.cli import main
from forge.config import validate_dict
from forge.errors import ForgeError
from forge.models.facts import module_kind, weight_modules
from forge.plan.hardware import HardwareInfo
from forge.train.lora_targets import choose

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
TINY = ["model.name=builtin:tiny-llama", "model.load_in_4bit=false", "training.max_steps=1"]
LINEAR = "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"


def _write(path, tensors: dict[str, list[int]]) -> None:
    header = {n: {"dtype": "BF16", "shape": s, "data_offsets": [0, 0]} for n, s in tensors.items()}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def _kinds(tmp_path, **extra):
    _write(tmp_path / "model.safetensors", {**llama_tensors(100, 32, 2), **extra})
    return weight_modules(tmp_path)


def lora(targets):
    return validate_dict({"lora": {"target_modules": targets}}).lora


def test_kinds_from_the_headers():
    assert module_kind("model.layers.0.self_attn.q_proj", [32, 32]) == "linear"
    assert module_kind("model.layers.0.self_attn.q_proj", [512, 1]) == "linear"  # packed 4-bit
    assert module_kind("model.embed_tokens", [100, 32]) == "embedding"
    assert module_kind("transformer.wte", [100, 32]) == "embedding"
    assert module_kind("model.layers.0.input_layernorm", [32]) == "norm"
    assert module_kind("lm_head", [100, 32]) == "output"
    assert module_kind("vision_tower.embeddings.patch_embedding", [8, 3, 4, 4]) == "other"


def test_sharded_checkpoints_are_read_through_their_index(tmp_path):
    tensors = llama_tensors(100, 32, 2)
    names = list(tensors)
    _write(tmp_path / "a.safetensors", {n: tensors[n] for n in names[:9]})
    _write(tmp_path / "b.safetensors", {n: tensors[n] for n in names[9:]})
    index = {"weight_map": {n: "a.safetensors" if i < 9 else "b.safetensors" for i, n in enumerate(names)}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    kinds = weight_modules(tmp_path)
    assert kinds["model.layers.1.mlp.down_proj"] == "linear" and kinds["model.norm"] == "norm"
    assert len(kinds) == len(names)


@pytest.mark.parametrize(
    "targets,words",
    [
        (["lm_head"], "lm_head is the model's output layer (the LM head): TRL's SFTTrainer computes the loss"),
        (["q_proj", "embed_tokens"], "embed_tokens is an embedding, not a linear layer"),
        (["input_layernorm"], "input_layernorm is a norm or a scale (a 1-D weight), not a linear layer"),
        (
            ["self_attn"],
            "self_attn is a block of layers, not one layer (its linear layers: q_proj, k_proj, v_proj, o_proj)",
        ),
        (["self_attn.q_proj"], "self_attn.q_proj is a path: name the layer alone"),
        (["q_proj", "qproj"], "qproj is not a layer of this model (did you mean q_proj?)"),
        (["q_proj", "rotary_emb"], "rotary_emb is not a layer of this model"),
    ],
)
def test_names_that_are_not_linear_layers_are_refused_with_the_models_layers(tmp_path, targets, words):
    with pytest.raises(ForgeError) as e:
        choose(_kinds(tmp_path), lora(targets))
    assert e.value.message.startswith("lora.target_modules: ") and words in e.value.message
    assert e.value.exit_code == 2 and e.value.kind == "config"
    assert e.value.fix == f"set lora.target_modules to linear layers of this model (any of: {LINEAR})"


def test_lm_head_is_refused_when_tied_too(tmp_path):
    kinds = _kinds(tmp_path)
    assert "lm_head" not in kinds  # a tied head is not in the checkpoint; the loaded model has it
    with pytest.raises(ForgeError, match="output layer"):
        choose(kinds, lora(["q_proj", "lm_head"]))


def test_every_problem_is_named_at_once(tmp_path):
    with pytest.raises(ForgeError) as e:
        choose(_kinds(tmp_path), lora(["lm_head", "embed_tokens", "q_proj"]))
    assert "lm_head is" in e.value.message and "; embed_tokens is" in e.value.message


def test_the_default_list_still_skips_what_a_model_lacks(tmp_path):
    kinds = {p: k for p, k in _kinds(tmp_path).items() if not p.endswith(("gate_proj", "up_proj"))}
    chosen = choose(kinds, lora(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    assert chosen.skipped == ["gate_proj", "up_proj"] and "skipped: gate_proj, up_proj" in chosen.notes[0]
    assert chosen.spec == ["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"]


def test_a_plain_list_is_of_linear_layers():
    names = ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj", "lm_head"]
    assert choose(names, lora(["q_proj", "up_proj"])).names == names[:2]
    with pytest.raises(ForgeError, match="output layer"):
        choose(names, lora(["lm_head"]))


# ------------------------------------------------------------------ check and train agree

CASES = {
    "lm_head": ('lora.target_modules=["lm_head"]', "lm_head is the model's output layer"),
    "embedding": ('lora.target_modules=["q_proj","embed_tokens"]', "embed_tokens is an embedding"),
    "norm": ('lora.target_modules=["input_layernorm"]', "input_layernorm is a norm or a scale"),
    "block": ('lora.target_modules=["mlp"]', "mlp is a block of layers"),
    "absent": ('lora.target_modules=["q_proj","c_attn"]', "c_attn is not a layer of this model"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_fails_what_train_refuses_before_any_weights_load(project, monkeypatch, capsys, case):
    import forge.plan.hardware as hw
    from forge.train.backends.hf import HFBackend

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    target, words = CASES[case]
    sets = [x for s in [*TINY, target] for x in ("--set", s)]
    assert main(["check", str(project.root), "--json", *sets]) == 1
    out = json.loads(capsys.readouterr().out)
    failed = [i for sec in out["sections"].values() for i in sec if i["status"] == "fail"]
    assert [i["name"] for i in failed] == ["LoRA targets exist"] and words in failed[0]["detail"]
    assert LINEAR in failed[0]["fix"]

    def load(self):
        raise AssertionError("weights loaded before the refusal")

    monkeypatch.setattr(HFBackend, "load", load)
    assert main(["train", str(project.root), *sets]) == 2
    capsys.readouterr()
    status = json.loads(project.status_file.read_text())
    assert status["phase"] == "failed" and status["error_kind"] == "config"
    assert status["error"] == failed[0]["detail"] and LINEAR in status["solution"]


def test_the_loaded_model_has_the_kinds_the_headers_say():
    """What train decides from the loaded modules (module_kinds) is what check decided from the
    headers, name for name (the paths differ only where transformers renames a checkpoint's)."""
    pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from forge.models.loader import builtin_path
    from forge.train.lora_targets import module_kinds

    folder = builtin_path("builtin:tiny-llama")
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert module_kinds(model) == weight_modules(folder)

    def refusal(kinds):
        with pytest.raises(ForgeError) as e:
            choose(kinds, lora(["lm_head", "norm", "embed_tokens"]))
        return e.value.message

    assert refusal(module_kinds(model)) == refusal(weight_modules(folder))
