"""Issue 15.2: `forge check` says ready exactly when `forge train` would start.

One test per refusal class: check fails the item, and train, on the same project and --set, stops
before any weights load with the same sentence (the status file's `error`). Measured on 8bff25f,
each of these passed check (or failed it) while train did the opposite.
"""

from __future__ import annotations

import json

import pytest
from model_folders import chat_rows, write_rows

from forge.cli import main
from forge.plan.hardware import GPUInfo, HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
SMALL_GPU = HardwareInfo(torch_version="2.13.0", gpus=[GPUInfo("Small GPU", 7.6, "8.6", True)], ram_gb=16)
TINY = ["model.name=builtin:tiny-llama", "model.load_in_4bit=false", "training.max_steps=1"]
LONG_SYSTEM = " ".join(["please tell me the answer to the question"] * 12)


def _sets(items):
    out = []
    for s in items:
        out += ["--set", s]
    return out


def _check(project, sets, capsys):
    rc = main(["check", str(project.root), "--json", *_sets(sets)])
    out = json.loads(capsys.readouterr().out)
    failed = [i for sec in out["sections"].values() for i in sec if i["status"] == "fail"]
    return rc, failed


def _no_weights(monkeypatch):
    """A refusal comes before any weights load (the backend is chosen first, so that Unsloth is
    imported before transformers; choosing it loads nothing)."""
    from forge.train.backends.hf import HFBackend

    def load(self):
        raise AssertionError("weights loaded before the refusal")

    monkeypatch.setattr(HFBackend, "load", load)


def _train(project, sets, capsys):
    rc = main(["train", str(project.root), *_sets(sets)])
    capsys.readouterr()
    status = json.loads(project.status_file.read_text())
    return rc, status


CASES = {
    # kind: (extra --set, hardware, text in both)
    "unknown template": (["dataset.chat_template=gemma-33"], CPU, "unknown template 'gemma-33'"),
    "template markers": (["dataset.chat_template=gemma-3"], CPU, "<start_of_turn>, <end_of_turn> are not single"),
    "sizes": (["lora.r=1000000000"], CPU, "lora.r (now 1000000000"),
    "lora targets": (['lora.target_modules=["c_attn"]'], CPU, "c_attn is not a layer of this model"),
    "lora switches": (
        ["lora.finetune_attention_modules=false", "lora.finetune_mlp_modules=false"],
        CPU,
        "no LoRA target module left",
    ),
    # 2026-12-01: check said "ready to train" for both, train refused them
    "backend": (["training.backend=unsloth"], CPU, "--backend unsloth cannot run here"),
    "fp8": (["model.load_in_fp8=true"], CPU, "the hf backend has no FP8 path"),
    "sample minimum": (["dataset.min_samples=200"], CPU, "120 usable training conversation(s); at least 200"),
    "shape and memory": (
        ["model.name=unsloth/gemma-3-27b-it", "model.load_in_4bit=true"],
        SMALL_GPU,
        "the GPU has 7.6 GB",
    ),
    # 2026-12-02: check said "ready to train" for each; train failed after the model had loaded
    "tracker not installed": (["training.report_to=wandb"], CPU, "training.report_to names wandb, which is not"),
    "output_dir unwritable": (["training.output_dir=/proc/x"], CPU, "training.output_dir: /proc/x cannot be created"),
    "lora_path unwritable": (["save.lora_path=/proc/nope"], CPU, "save.lora_path: /proc/nope cannot be created"),
    "output_dir is a file": (["training.output_dir=/dev/null"], CPU, "/dev/null exists and is not a folder"),
    "max_seq_length beyond the model": (
        ["model.max_seq_length=1000000000"],
        CPU,
        "beyond the 4,096 positions builtin:tiny-llama was trained for",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_fails_what_train_refuses(project, monkeypatch, capsys, case):
    import forge.plan.hardware as hw

    sets, hardware, text = CASES[case]
    monkeypatch.setattr(hw, "probe", lambda: hardware)
    rc, failed = _check(project, TINY + sets, capsys)
    assert rc == 1
    assert any(text in (i["detail"] + " " + (i["fix"] or "")) for i in failed), failed
    _no_weights(monkeypatch)
    rc, status = _train(project, TINY + sets, capsys)
    assert rc == 2 and status["phase"] == "failed"
    assert text in status["error"] + " " + (status["solution"] or "")
    detail = next(i["detail"] for i in failed if text in i["detail"] + " " + (i["fix"] or ""))
    assert detail.splitlines()[0] in status["error"]  # the same words


def test_max_seq_length_shorter_than_every_prompt(tmp_path, monkeypatch, capsys):
    import forge.plan.hardware as hw
    from forge.init.scaffold import init_project

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(120, system=LONG_SYSTEM))
    write_rows(proj.val_file, chat_rows(8, "v"))
    sets = [*TINY, "dataset.chat_template=llama-3", "model.max_seq_length=32"]
    rc, failed = _check(proj, sets, capsys)
    assert rc == 1 and any("first assistant turn starts at or after token 32" in i["detail"] for i in failed), failed
    _no_weights(monkeypatch)
    rc, status = _train(proj, sets, capsys)
    assert rc == 2 and "first assistant turn starts at or after token 32" in status["error"]


def test_empty_model_name(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    rc, failed = _check(project, ["model.name= "], capsys)
    assert rc == 1 and any("model.name: value error, empty" in i["detail"] for i in failed)  # 8bff25f: ready
    assert main(["train", str(project.root), "--set", "model.name= "]) == 2


def test_sample_minimum_auto_agrees_for_a_real_model(tmp_path, monkeypatch, capsys):
    # 8bff25f: check failed 40 rows, train trained them without a word
    import forge.plan.hardware as hw
    from forge.init.scaffold import init_project

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(40))
    write_rows(proj.val_file, chat_rows(8, "v"))
    sets = ["model.name=builtin:gemma-3-270m", "model.load_in_4bit=false"]
    rc, failed = _check(proj, sets, capsys)
    assert rc == 1 and any("40 usable training conversation(s); at least 100" in i["detail"] for i in failed)
    rc, status = _train(proj, sets, capsys)
    assert rc == 2 and "at least 100" in status["error"] and "dataset.min_samples to 40" in status["solution"]


def test_tiny_test_models_need_no_minimum(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    write_rows(project.train_file, chat_rows(40))
    rc, failed = _check(project, TINY, capsys)
    assert rc == 0, failed


def test_a_tokenizer_that_does_not_fit_the_text(tmp_path, monkeypatch, capsys):
    # A model folder whose tokenizer reads this data as its unknown token (a word-level vocabulary
    # of other words): on 2026-12-01 the same kind of mismatch (Qwen2's tokenizer class over a
    # word-level tokenizer.json) measured 31 tokens for 900-word chats, and training ran on them.
    from model_folders import make_model

    import forge.plan.hardware as hw
    from forge.init.scaffold import init_project

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    folder = make_model(tmp_path / "m", specials=specials, model_type="llama", architecture="LlamaForCausalLM")
    proj, _ = init_project(tmp_path / "p")
    words = "zebra giraffe pelican walrus"
    rows = [
        {"conversations": [{"from": "human", "value": f"{words} {i}"}, {"from": "gpt", "value": words}]}
        for i in range(128)
    ]
    write_rows(proj.train_file, rows[:120])
    write_rows(proj.val_file, rows[120:])
    sets = [f"model.name={folder}", "model.load_in_4bit=false", "dataset.min_samples=1", "training.max_steps=1"]
    rc, failed = _check(proj, sets, capsys)
    text = "as its unknown token"
    assert rc == 1 and any(text in i["detail"] and i["name"] == "tokenizer fits the data" for i in failed), failed
    _no_weights(monkeypatch)
    rc, status = _train(proj, sets, capsys)
    assert rc == 2 and text in status["error"] and "tokenizer.json" in status["solution"]
    assert "data/splits/train.jsonl" in status["error"]


def test_a_fitting_tokenizer_is_reported_in_check(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    rc = main(["check", str(project.root), "--json", *_sets(TINY)])
    out = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for sec in out["sections"].values() for i in sec}
    assert rc == 0 and items["tokenizer fits the data"]["status"] == "ok"
    assert "characters a token" in items["tokenizer fits the data"]["detail"]


def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and no cache: what a machine without network sees


@pytest.mark.parametrize("with_file", [True, False])
def test_default_model_neither_cached_nor_reachable(tmp_path, monkeypatch, capsys, with_file):
    # 2026-12-02: no training-config.json (the default unsloth/gemma-3-4b-it), no network, no cache:
    # check said ready, train exited 1 "model not found" once it tried to load
    import forge.plan.hardware as hw
    from forge.init.scaffold import init_project

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _offline(monkeypatch)
    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(120))
    write_rows(proj.val_file, chat_rows(8, "v"))
    if not with_file:
        proj.config_file.unlink()
    text = "model not found: 'unsloth/gemma-3-4b-it' is not in the local Hugging Face cache"
    rc, failed = _check(proj, ["model.name=unsloth/gemma-3-4b-it"], capsys)
    assert rc == 1 and any(text in i["detail"] and i["name"] == "model found" for i in failed), failed
    _no_weights(monkeypatch)
    rc, status = _train(proj, ["model.name=unsloth/gemma-3-4b-it"], capsys)
    assert rc == 2 and text in status["error"] and status["error_kind"] == "model_not_found"


def test_checkpoints_of_an_earlier_run(project, monkeypatch, capsys):
    # 2026-12-02: check said ready over outputs/checkpoint-40; train refused it (--resume or --force)
    import forge.plan.hardware as hw
    from forge.train.checkpoints import mark_complete

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    ckpt = project.root / "outputs" / "checkpoint-40"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 40}))
    mark_complete(ckpt, {"step": 40})
    text = "holds checkpoints of an earlier run (newest: checkpoint-40)"
    rc, failed = _check(project, TINY, capsys)
    item = next(i for i in failed if text in i["detail"])
    assert rc == 1 and "--resume" in item["fix"] and "--force" in item["fix"]
    assert ckpt.is_dir()  # check reads the folder; it moves nothing aside
    _no_weights(monkeypatch)
    rc = main(["train", str(project.root), *_sets(TINY)])
    err = capsys.readouterr().err
    assert rc == 2 and text in " ".join(err.split())


CONFIG_CASES = {
    # 2026-12-02: each passed check; train failed with "unexpected error ... ValueError" after the
    # model had loaded, or (GGUF) after the whole run had trained
    "optim": ("training.optim=bogus_optim", "'bogus_optim' is not an optimizer transformers knows"),
    "scheduler": ("training.lr_scheduler_type=cosine_typo", "did you mean 'cosine'?"),
    "tracker name": ("training.report_to=wandbb", "'wandbb' is not a tracker transformers knows"),
    "gguf type": ("save.gguf_quantization=bogus", "unknown GGUF type 'bogus'"),
    "eval_steps 0": ("training.eval_steps=0", "training.eval_steps: value error, must be a number of steps of 1"),
    "eval_steps negative": ("training.eval_steps=-5", "null turns eval off (got -5)"),
    "save_steps 0": ("training.save_steps=0", "training.save_steps: value error, must be a number of steps"),
    "save_steps negative": ("training.save_steps=-3", "(got -3)"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_refusals_agree(project, monkeypatch, capsys, case):
    import forge.plan.hardware as hw

    item, text = CONFIG_CASES[case]
    monkeypatch.setattr(hw, "probe", lambda: CPU)
    sets = [*TINY, "save.gguf_path=models/quantized", item]
    rc, failed = _check(project, sets, capsys)
    assert rc == 1 and any(text in i["detail"] and i["name"] == "config valid" for i in failed), failed
    _no_weights(monkeypatch)
    rc = main(["train", str(project.root), *_sets(sets)])
    assert rc == 2 and text in " ".join(capsys.readouterr().err.split())
