"""`model.load_in_fp8`: config validation, the refusals (hf backend, pre-Hopper GPUs), the parity rule."""

from __future__ import annotations

import logging

import pytest

from forge.config import ModelSection, validate_dict
from forge.errors import ForgeError
from forge.plan.fp8 import MEASURED, Measured, fp8_refusal, parity_ok, plan_may_choose_fp8


def test_default_is_off_and_documented():
    cfg = validate_dict({})
    assert cfg.model.load_in_fp8 is False
    assert cfg.model.load_in_4bit is True  # the original template's default is kept
    assert "FP8" in ModelSection.model_fields["load_in_fp8"].description


def test_fp8_replaces_the_default_4bit():
    cfg = validate_dict({"model": {"load_in_fp8": True}})
    assert cfg.model.load_in_fp8 is True and cfg.model.load_in_4bit is False


def test_fp8_on_a_project_forge_init_wrote(tmp_path):
    # forge init writes load_in_4bit: true (the template's default); --set model.load_in_fp8=true
    # on that project must mean FP8, as the plan reads a default in the file as no choice
    from forge.config import load_config
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "p")
    cfg = load_config(proj.config_file, ["model.load_in_fp8=true"])
    assert cfg.model.load_in_fp8 is True and cfg.model.load_in_4bit is False
    both = validate_dict({"model": {"load_in_fp8": True, "load_in_4bit": True}})
    assert both.model.load_in_fp8 and not both.model.load_in_4bit


def test_fp8_with_explicit_16bit_is_fine():
    cfg = validate_dict({"model": {"load_in_fp8": True, "load_in_4bit": False}})
    assert cfg.model.load_in_fp8 and not cfg.model.load_in_4bit


def test_hf_backend_is_refused_with_the_fix():
    err = fp8_refusal("hf", "9.0")
    assert isinstance(err, ForgeError) and err.exit_code == 2
    assert "hf backend" in str(err) and "--backend unsloth" in err.fix


@pytest.mark.parametrize("cap", ["8.0", "8.9", "7.5", None, "garbage"])
def test_pre_hopper_gpus_are_refused(cap):
    err = fp8_refusal("unsloth", cap, "NVIDIA A100")
    assert err is not None and "9.0+" in str(err) and "load_in_fp8 to false" in err.fix


@pytest.mark.parametrize("cap", ["9.0", "10.0", "12.0"])
def test_hopper_and_newer_are_accepted(cap):
    assert fp8_refusal("unsloth", cap) is None


def test_select_backend_refuses_fp8_on_hf_before_loading(tmp_path):
    from forge.train.backends import select_backend

    cfg = validate_dict({"model": {"load_in_fp8": True}})
    with pytest.raises(ForgeError, match="the hf backend has no FP8 path"):
        select_backend("hf", cfg, logging.getLogger("t"), tmp_path)


def test_parity_rule():
    assert parity_ok(2.000, 2.019)
    assert parity_ok(2.000, 1.981)
    assert not parity_ok(2.000, 2.030)
    assert not parity_ok(2.000, float("nan"))


def test_plan_chooses_fp8_only_where_measured_faster_with_parity(monkeypatch):
    # the measurements as they stand: parity holds for the 1B and 8B shapes; FP8 is faster only for
    # the 8B shape on the H200 (1.12x at 8 rows a micro-batch), so that is the one place the plan takes it
    why, off = plan_may_choose_fp8("fp8_matmul", "llama-3.2-1b", "9.0", "NVIDIA H100 80GB HBM3", "unsloth")
    assert why is None and "0.61x bf16" in off
    why, off = plan_may_choose_fp8("fp8_matmul", "qwen2.5-7b", "9.0", "NVIDIA H100 80GB HBM3", "unsloth")
    assert why is None and "never measured" in off
    why, off = plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H200", "unsloth")
    assert why and "1.12x" in why and "11.2809 vs 11.2808" in why and "H100" in why and not off
    why, off = plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H100 80GB HBM3", "unsloth")
    assert why is None and "1.01x" in off
    # the H200's win was measured at 26,624 tokens a micro-batch: a plan with far fewer (a capped
    # budget) gets no FP8, and is told why; one near it does
    why, off = plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H200", "unsloth", None, 13312)
    assert why is None and "26,624 tokens a micro-batch" in off and "holds 13,312" in off
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H200", "unsloth", None, 19968)[0]
    # faster, but no parity run of that shape: off, and the note names the parity arm
    no_parity = [m for m in MEASURED if not (m.shape == "llama-3.1-8b" and m.parity)]
    monkeypatch.setattr("forge.plan.fp8.MEASURED", no_parity)
    why, off = plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H200", "unsloth")
    assert why is None and "1.12x" in off and "not shown yet" in off and "--arms p16,pg" in off
    faster = Measured("fp8_matmul", "llama-3.1-8b", "H100", 1.2, None, "test")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [*no_parity, faster])
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H100", "unsloth")[0] is None  # no parity
    parity = Measured("fp8_matmul", "llama-3.1-8b", "H200", 0.99, (2.0, 2.01), "test")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [*no_parity, faster, parity])
    why, _ = plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H100 80GB HBM3", "unsloth")
    assert why and "1.20x" in why
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA GH200", "unsloth")[0] is None  # other card
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "8.0", "NVIDIA A100", "unsloth")[0] is None
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", None, "", "hf")[0] is None  # no GPU


def test_the_resolver_turns_fp8_on_from_the_table_and_leaves_a_users_choice(monkeypatch):
    from forge.plan.fp8 import choose_fp8
    from forge.plan.hardware import GPUInfo, HardwareInfo
    from forge.plan.settings import Builder

    cfg = validate_dict({})
    hw = HardwareInfo(gpus=[GPUInfo(name="NVIDIA H100 80GB HBM3", vram_gb=80.0, capability="9.0", bf16=True)])
    notes: list[str] = []
    b = Builder(cfg, set())
    choose_fp8(b, "bfloat16", "llama-3.1-8b", hw, "unsloth", notes)
    assert "model.fp8_matmul" not in b.settings and "1.01x bf16" in notes[0]
    win = Measured("fp8_matmul", "llama-3.1-8b", "H100", 1.2, (2.0, 2.0), "test")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [win])
    b = Builder(cfg, set())
    choose_fp8(b, "bfloat16", "llama-3.1-8b", hw, "unsloth", [])
    assert b.settings["model.fp8_matmul"].value is True
    b = Builder(cfg, {"model.fp8_matmul"})  # the user said no: the plan does not ask again
    choose_fp8(b, "bfloat16", "llama-3.1-8b", hw, "unsloth", [])
    assert "model.fp8_matmul" not in b.settings


def test_fp8_adapter_names_the_bf16_base_not_unslothes_fp8_copy():
    from types import SimpleNamespace

    from forge.train.backends.unsloth import _name_configured_base

    peft_cfg = SimpleNamespace(base_model_name_or_path="/root/.cache/unsloth_fp8/model-fp8-row-abc")
    _name_configured_base(SimpleNamespace(peft_config={"default": peft_cfg}), "/models/llama")
    assert peft_cfg.base_model_name_or_path == "/models/llama"


def test_unsloth_backend_dead_code_is_gone():
    from forge.train.backends.unsloth import UnslothBackend

    assert "_flash_attention" not in UnslothBackend.__dict__  # its plan() never asked it (issue 14.6)
    assert "unavailable_reason" not in UnslothBackend.__dict__


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_fp8_needs_bfloat16_weights(dtype):
    # torchao's row-wise FP8 quantises bf16 weights only: on the H200 a float32 load failed layer
    # by layer ("PerRow quantization only works for bfloat16"); say it at config time, by key
    from forge.config import ConfigError

    with pytest.raises(ConfigError) as err:
        validate_dict({"model": {"load_in_fp8": True, "dtype": dtype}})
    assert "model" in str(err.value) and "load_in_fp8 needs bfloat16" in str(err.value)
    for ok in (None, "bfloat16"):
        assert validate_dict({"model": {"load_in_fp8": True, "dtype": ok}}).model.load_in_fp8


@pytest.mark.parametrize("stored", ["float32", "float16", "torch.float32"])
def test_fp8_is_refused_for_weights_not_stored_in_bf16(stored):
    # Unsloth's FP8 copy is loaded as stored (torch_dtype="auto"): on the H200, builtin:tiny-llama
    # (float32) failed layer by layer inside torchao; say it before any weights load, with the fix
    err = fp8_refusal("unsloth", "9.0", "NVIDIA H200", stored, "builtin:tiny-llama")
    assert err is not None and "builtin:tiny-llama stores its weights in" in err.message
    assert "bfloat16 copy" in err.fix and "model.load_in_fp8 to false" in err.fix
    assert fp8_refusal("unsloth", "9.0", "NVIDIA H200", "bfloat16", "m") is None
    assert fp8_refusal("unsloth", "9.0", "NVIDIA H200", None, "m") is None  # not recorded: let it try


def test_check_refuses_fp8_on_a_float32_model(tmp_path, monkeypatch, capsys):
    # the resolver reads the stored dtype from config.json, as train's backend does before loading
    import json as _json

    from model_folders import chat_rows, write_rows

    import forge.plan.hardware as hw
    from forge.cli import main
    from forge.init.scaffold import init_project
    from forge.plan.hardware import GPUInfo, HardwareInfo

    h200 = HardwareInfo(torch_version="2.13.0", gpus=[GPUInfo("NVIDIA H200", 139.8, "9.0", True)], ram_gb=128)
    monkeypatch.setattr(hw, "probe", lambda: h200)
    proj, _ = init_project(tmp_path / "p")
    write_rows(proj.train_file, chat_rows(120))
    write_rows(proj.val_file, chat_rows(8, "v"))
    sets = ["model.name=builtin:tiny-llama", "model.load_in_fp8=true", "training.backend=unsloth"]
    rc = main(["check", str(proj.root), "--json", *[x for s in sets for x in ("--set", s)]])
    out = _json.loads(capsys.readouterr().out)
    failed = [i for sec in out["sections"].values() for i in sec if i["status"] == "fail"]
    assert rc == 1
    assert any("stores its weights in float32" in i["detail"] for i in failed), failed


def test_the_plan_never_chooses_what_check_would_refuse(monkeypatch):
    """Unsloth's FP8 LoRA refuses weights stored in fp16 (row-wise FP8 is made from bf16), and the
    config refuses FP8 beside a float16 compute dtype: a plan that turned FP8 on there would be
    refused by its own check."""
    from forge.plan.fp8 import choose_fp8
    from forge.plan.hardware import GPUInfo, HardwareInfo
    from forge.plan.settings import Builder

    win = Measured("load_in_fp8", "llama-3.1-8b", "H100", 1.2, (2.0, 2.0), "test")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [win])
    hw = HardwareInfo(gpus=[GPUInfo(name="NVIDIA H100 80GB HBM3", vram_gb=80.0, capability="9.0", bf16=True)])

    def chosen(stored, backend="unsloth", config=None):
        b = Builder(validate_dict(config or {}), set())
        choose_fp8(b, stored, "llama-3.1-8b", hw, backend, [])
        return b.settings.get("model.load_in_fp8")

    assert chosen("float16") is None
    assert chosen("bfloat16").value is True
    assert chosen("bfloat16", backend="hf") is None  # the hf backend has no FP8 LoRA
    assert chosen("bfloat16", config={"model": {"dtype": "float16"}}) is None


def test_one_failed_parity_row_keeps_fp8_off_and_cards_match_by_name(monkeypatch):
    faster = Measured("fp8_matmul", "llama-3.1-8b", "H100", 1.2, (2.0, 2.0), "test")
    failed = Measured("fp8_matmul", "llama-3.1-8b", "H200", 1.0, (2.0, 2.2), "test")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [faster, failed])
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H100 80GB HBM3", "unsloth")[0] is None
    monkeypatch.setattr(
        "forge.plan.fp8.MEASURED", [Measured("fp8_matmul", "llama-3.1-8b", "H20", 1.2, (2.0, 2.0), "t")]
    )
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H200", "unsloth")[0] is None
    assert plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H20", "unsloth")[0]


def test_the_note_tells_a_failed_parity_from_a_missing_one_and_names_the_options_arm(monkeypatch):
    """Faster but off: because parity failed (the losses shown), or was never run (the bench arm
    that would run it: pg for forge's FP8 products, p8 for Unsloth's FP8 LoRA)."""
    failed = Measured("fp8_matmul", "llama-3.1-8b", "H100", 1.3, (2.0, 2.5), "bad run")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [*MEASURED, failed])
    why, off = plan_may_choose_fp8("fp8_matmul", "llama-3.1-8b", "9.0", "NVIDIA H100 80GB HBM3", "unsloth")
    assert why is None and "parity failed (2.0000 bf16 vs 2.5000, bad run)" in off and "not shown" not in off
    lora = Measured("load_in_fp8", "llama-3.1-8b", "H100", 1.3, None, "test")
    monkeypatch.setattr("forge.plan.fp8.MEASURED", [*MEASURED, lora])
    why, off = plan_may_choose_fp8("load_in_fp8", "llama-3.1-8b", "9.0", "NVIDIA H100", "unsloth", "bfloat16")
    assert why is None and "--arms p16,p8" in off


def test_the_plan_takes_fp8_products_for_the_8b_on_an_h200_at_a_micro_batch_like_the_measured_one(tmp_path):
    """Through the resolver, as `forge plan` runs it: the 8B shape on an H200 gets FP8 products (the
    one measured win with parity); a smaller dataset plans a smaller micro-batch (the plan aims at
    about 150 steps), where the win was not measured, and the plan says why FP8 stays off."""
    import json

    from bench.common import make_chat

    from forge.data import load_conversations
    from forge.models.facts import read_facts
    from forge.plan.hardware import GPUInfo, HardwareInfo
    from forge.plan.measure import stats_for
    from forge.plan.resolve import resolve

    model = "unsloth/Meta-Llama-3.1-8B-Instruct"
    hw = HardwareInfo(gpus=[GPUInfo("NVIDIA H200", 139.8, "9.0", True)], unsloth=True, ram_gb=128)

    def plan(rows):
        train = tmp_path / f"train-{rows}.jsonl"
        train.write_text("".join(json.dumps(r) + "\n" for r in make_chat(rows)))
        cfg = validate_dict({"model": {"name": model}})
        facts = read_facts(model)
        return resolve(cfg, stats_for(load_conversations(train), cfg, facts), hw, explicit={"model.name"}, facts=facts)

    p = plan(600)  # 4 packed rows of 4,864 tokens
    assert p.settings["model.fp8_matmul"].value is True
    assert "1.12x" in p.settings["model.fp8_matmul"].reason and "parity" in p.settings["model.fp8_matmul"].reason
    small = plan(250)  # 3 rows: 14,592 tokens
    assert small.settings["model.load_in_4bit"].value is False and "model.fp8_matmul" not in small.settings
    assert any("holds 14,592: smaller products gain less" in n for n in small.notes), small.notes
