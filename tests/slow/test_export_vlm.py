"""The Gemma 3 VLM path end to end on CPU: builtin:tiny-gemma3-vlm trained by `forge train`, then
`forge export --merged --gguf q8_0` (slow: about a minute for the module)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import copy_trained as _copy
from tests.conftest import export_report as _report
from tests.conftest import forge_here

from forge.cli import main
from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

VLM = "builtin:tiny-gemma3-vlm"


def _mtmd_loads() -> bool:
    try:
        __import__("forge.export.verify_image_answer", fromlist=["x"]).load_mtmd()
    except Exception:
        return False
    return True


_MTMD = _mtmd_loads()
TRAIN = [
    "model.max_seq_length=64",
    "training.max_steps=3",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
]


def _project(root: Path, model: str = VLM) -> Path:
    proj, _ = init_project(root)
    rows = lambda n, p: [  # noqa: E731
        {"conversations": [{"from": "human", "value": f"{p} question {i}?"}, {"from": "gpt", "value": "Forty-two."}]}
        for i in range(n)
    ]
    for path, r in ((proj.train_file, rows(32, "q")), (proj.val_file, rows(4, "v"))):
        path.write_text("".join(json.dumps(x) + "\n" for x in r), encoding="utf-8")
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"]["name"], cfg["model"]["load_in_4bit"] = model, False
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    return proj.root


def _train(root: Path, *sets: str, extra: tuple[str, ...] = ()) -> None:
    """`forge train` in this process; with --nproc in a new one (its launcher starts the ranks)."""
    args = ["train", str(root), *extra, *[a for s in (*TRAIN, *sets) for a in ("--set", s)]]
    if "--nproc" in extra:
        r = subprocess.run([sys.executable, "-m", "forge", *args], capture_output=True, text=True, timeout=600)
    else:
        r = forge_here(*args)
    assert r.returncode == 0, r.stdout + r.stderr


def _adapter_keys(root: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(root / "models/checkpoints/lora/adapter_model.safetensors"), "pt") as f:
        return list(f.keys())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = _project(tmp_path_factory.mktemp("vlm") / "p")
    _train(root)
    return root


def test_default_switches_keep_lora_out_of_the_vision_tower(trained):
    keys = _adapter_keys(trained)
    assert keys and not [k for k in keys if "vision" in k or "multi_modal" in k]
    assert all("language_model" in k for k in keys)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    root = _copy(trained, tmp_path_factory.mktemp("vlm-export") / "e")
    assert main(["export", str(root), "--merged", "--gguf", "q8_0"]) == 0
    return root


def test_vlm_export_merged_gguf_and_mmproj(exported):
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    root = exported
    report = _report(root)
    # ok null: skipped, with its reason (the image answer, where llama-cpp-python has no mtmd)
    assert report["ok"] and all(c["ok"] is not False for c in report["checks"])
    names = {(c.get("target"), c["name"]) for c in report["checks"]}
    assert {
        (None, "processor"),
        (None, "vision tower"),
        ("GGUF Q8_0", "GGUF tensors vs merged weights"),
        ("mmproj F16", "GGUF tensors vs merged weights"),
        ("mmproj F16", "mmproj metadata"),
        ("GGUF Q8_0", "llama.cpp image answer vs merged model"),
    } <= names
    answer = next(c for c in report["checks"] if c["name"] == "llama.cpp image answer vs merged model")
    if _MTMD:  # both answers shown, llama.cpp's logits closer to this picture's than to another's
        assert answer["ok"] is True and answer["detail"].startswith("llama.cpp: '"), answer
        assert (
            answer["image_tokens"] == 16
            and answer["logit_rms"]["this_picture"] < answer["logit_rms"]["other_picture"] / 2
        )
    else:
        assert answer["ok"] is None and answer["status"] == "skipped" and "mtmd" in answer["detail"], answer
    tensors = [c for c in report["checks"] if c["name"] == "GGUF tensors vs merged weights"]
    assert all(c["tensors"] > 0 for c in tensors)

    merged = root / "models" / "checkpoints" / "merged"
    quant = root / "models" / "quantized"
    text_gguf, mmproj = quant / "tiny-gemma3-vlm-Q8_0.gguf", quant / "mmproj-tiny-gemma3-vlm-F16.gguf"
    assert text_gguf.is_file() and mmproj.is_file()
    assert report["merged"]["kept"] and report["mmproj"]["path"] == mmproj.relative_to(root).as_posix()
    for name in ("preprocessor_config.json", "processor_config.json", "tokenizer.model"):
        assert (merged / name).is_file(), name

    processor = AutoProcessor.from_pretrained(merged)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert "<start_of_image>What colour?<end_of_turn>" in text
    inputs = processor(text=text, images=[Image.new("RGB", (40, 30), (9, 200, 9))], return_tensors="pt")
    model = AutoModelForImageTextToText.from_pretrained(merged)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    assert model(**inputs).logits.shape[-1] == model.config.text_config.vocab_size

    modelfile = (quant / "Modelfile").read_text()
    assert f"FROM ./{text_gguf.name}" in modelfile and f"FROM ./{mmproj.name}" in modelfile
    assert 'TEMPLATE """' in modelfile and 'PARAMETER stop "<end_of_turn>"' in modelfile

    import gguf

    fields = gguf.GGUFReader(str(text_gguf)).fields
    assert "<start_of_image>" in fields["tokenizer.chat_template"].contents()  # the official template


@pytest.mark.skipif(
    not __import__("forge.export.gguf", fromlist=["x"]).llama_cpp_available(), reason="needs llama-cpp-python"
)
def test_llama_cpp_answers_a_chat_from_the_text_gguf(exported):
    import llama_cpp

    root = exported
    assert next(c for c in _report(root)["checks"] if c["name"].startswith("llama.cpp greedy"))["ok"]
    llm = llama_cpp.Llama(
        model_path=str(root / "models/quantized/tiny-gemma3-vlm-Q8_0.gguf"), n_ctx=256, verbose=False, n_threads=2
    )
    out = llm.create_chat_completion(messages=[{"role": "user", "content": "Hello?"}], max_tokens=8, temperature=0)
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(out["choices"][0]["message"]["content"], str)


def _image_reference(root: Path):
    import torch
    from transformers import AutoModelForImageTextToText

    from forge.export.image_reference import hf_reference

    merged = root / "models" / "checkpoints" / "merged"
    model = AutoModelForImageTextToText.from_pretrained(str(merged), dtype=torch.float32).eval()
    return hf_reference(model, merged, [106, 1])


@pytest.mark.skipif(not _MTMD, reason="llama-cpp-python built without its mtmd library (LLAVA_BUILD=OFF)")
def test_image_answer_fails_for_a_perturbed_projector_and_another_picture(exported, tmp_path, monkeypatch):
    """The check can fail: a projector whose input projection is shuffled (the mmproj tensor check
    compares the SigLIP layers only), and llama.cpp shown another picture than the merged model."""
    import gguf
    import numpy as np

    from forge.export import image_reference
    from forge.export.verify_image_answer import image_answer_check

    quant = exported / "models" / "quantized"
    text_gguf, mmproj = quant / "tiny-gemma3-vlm-Q8_0.gguf", quant / "mmproj-tiny-gemma3-vlm-F16.gguf"
    ref = _image_reference(exported)
    good = image_answer_check(text_gguf, mmproj, "q8_0", ref)
    assert good["ok"] is True and good["identical_answer_tokens"] > 0, good

    bad = tmp_path / "mmproj-perturbed.gguf"
    bad.write_bytes(mmproj.read_bytes())
    reader = gguf.GGUFReader(str(bad), "r+")
    proj = next(t for t in reader.tensors if t.name == "mm.input_projection.weight")
    proj.data[...] = np.random.default_rng(0).permutation(proj.data.reshape(-1)).reshape(proj.data.shape)
    del reader
    c = image_answer_check(text_gguf, bad, "q8_0", ref)
    assert c["ok"] is False and "do not follow the merged model's for this picture" in c["detail"], c
    assert c["logit_rms"]["this_picture"] > good["logit_rms"]["this_picture"] * 10

    draw = image_reference.picture
    monkeypatch.setattr(image_reference, "picture", lambda which=None: draw(image_reference.OTHER_PICTURE))
    c = image_answer_check(text_gguf, mmproj, "q8_0", ref)
    assert c["ok"] is False and c["logit_rms"]["this_picture"] > c["logit_rms"]["other_picture"], c


def test_export_reports_the_image_answer_skipped_where_mtmd_cannot_load(trained, tmp_path, monkeypatch, capsys):
    """No mtmd library (llama-cpp-python's own error when built with LLAVA_BUILD=OFF): the check is
    "not checked" with that reason, never passed, and the export still succeeds (exit 0)."""
    from forge.export import verify_image_answer

    def no_library():
        raise FileNotFoundError("Shared library with base name 'mtmd' not found")

    monkeypatch.setattr(verify_image_answer, "load_mtmd", no_library)
    root = _copy(trained, tmp_path / "s")
    assert main(["export", str(root), "--gguf", "q8_0"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    report = _report(root)
    answer = next(c for c in report["checks"] if c["name"] == "llama.cpp image answer vs merged model")
    assert report["ok"] and answer["ok"] is None and answer["status"] == "skipped", answer
    assert "Shared library with base name 'mtmd' not found" in answer["detail"]
    assert "not checked: GGUF Q8_0: llama.cpp image answer vs merged model" in out
    assert (root / "models/quantized/tiny-gemma3-vlm-Q8_0.gguf").is_file()


def test_failed_gguf_step_keeps_the_verified_merged_model(trained, tmp_path, capsys, monkeypatch):
    """The converter stops on what it does not know (here: llama.cpp's own message for an unknown
    BPE pre-tokenizer, raised where the converter writes): a clear error, the merged model kept."""
    from forge.export import gguf as G

    def refuse(*a, **k):
        raise NotImplementedError("BPE pre-tokenizer was not recognized - update get_vocab_base_pre()")

    monkeypatch.setattr(G, "_write", refuse)
    root = _copy(trained, tmp_path / "f")
    assert main(["export", str(root), "--merged", "--gguf", "q8_0"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "pre-tokenizer" in err and "tokenizer.model" in err and "Traceback" not in err
    merged = root / "models" / "checkpoints" / "merged"
    assert (merged / "model.safetensors").is_file() and "kept, verified" in err
    report = _report(root)
    assert (
        report["ok"] is False
        and report["merged"]["kept"] is True
        and report["merged"]["path"] == merged.relative_to(root).as_posix()
    )
    assert report["gguf"] == [] and report["mmproj"] is None and report["modelfile"] is None
    assert "pre-tokenizer" in report["error"]
    assert not list(root.rglob("*.gguf")) and not list(root.rglob("*.partial"))


def test_switches_vision_on_mlp_off_under_data_parallel(tmp_path):
    """The same lora_targets choice on every rank (--nproc 2: two CPU processes over gloo)."""
    root = _project(tmp_path / "s")
    sets = ("training.max_steps=1", "training.per_device_train_batch_size=2")
    _train(root, *sets, "lora.finetune_vision_layers=true", "lora.finetune_mlp_modules=false", extra=("--nproc", "2"))
    keys = _adapter_keys(root)
    # SigLIP q/k/v (its out_proj is not a default target) and the decoder's attention, no MLP
    assert len([k for k in keys if "vision_tower" in k]) == 2 * 3 * 2
    assert len([k for k in keys if "language_model" in k]) == 2 * 4 * 2
    assert not [k for k in keys if ".mlp." in k]


@pytest.mark.parametrize(
    "config,hf,expected",
    [
        (
            {"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2},
            "model.layers.1.self_attn.v_proj.weight",
            "blk.1.attn_v.weight",
        ),
        (
            {"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 2},
            "model.layers.1.mlp.down_proj.weight",
            "blk.1.ffn_down.weight",
        ),
        ("vlm", "language_model.model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"),
        ("vlm", "model.language_model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight"),
        ("vlm-mmproj", "vision_tower.encoder.layers.1.self_attn.v_proj.weight", "v.blk.1.attn_v.weight"),
        ("vlm-mmproj", "vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight", "v.blk.0.ffn_down.weight"),
    ],
)
def test_gguf_names_follow_the_converter_for_every_architecture(tmp_path, config, hf, expected):
    from forge.export.gguf import gguf_names
    from forge.models.loader import resolve_model_path

    if isinstance(config, dict):
        (tmp_path / "config.json").write_text(json.dumps(config))
        folder = tmp_path
    else:
        folder = Path(resolve_model_path(VLM))
    assert gguf_names(folder, [hf], mmproj=config == "vlm-mmproj") == {hf: expected}


def test_tokenizer_model_is_a_valid_sentencepiece_model():
    """sentencepiece 0.2.2 (the GPU machine's) refuses a model without an unknown piece: 'unk is not defined'."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    from transformers import AutoTokenizer

    from forge.models.loader import resolve_model_path

    folder = Path(resolve_model_path(VLM))
    proto = pb.ModelProto()
    proto.ParseFromString((folder / "tokenizer.model").read_bytes())
    unknown = [i for i, p in enumerate(proto.pieces) if p.type == pb.ModelProto.SentencePiece.UNKNOWN]
    assert unknown == [proto.trainer_spec.unk_id] and proto.pieces[unknown[0]].piece == "<unk>"
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    tok = AutoTokenizer.from_pretrained(folder)
    assert sp.unk_id() == 3 and sp.vocab_size() == 262144
    for text in ("The capital of France is", "Hello  world\n\nfoo   bar\t<b>x</b>", "naïve café 1234 🚀"):
        assert sp.encode(text) == tok(text, add_special_tokens=False)["input_ids"]
