"""One rule says whether metrics/baseline.json can be gated against (forge.evaluate.baseline.
usable_baseline / baseline_refusal), and check, evaluate and the web UI all ask it.

2026-12-01 (QA): with a baseline made for builtin:tiny-llama, a row appended to val.jsonl and
`--set model.name=builtin:tiny-gemma3`, `forge check` ticked "metrics/baseline.json: model
builtin:tiny-llama ..." while `forge evaluate` refused it ("computed for something else ... val
file sha256 ..."): check only parsed the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluate_files import scores
from forge.errors import ForgeError
from forge.plan.hardware import GPUInfo, HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
TINY = ["model.load_in_4bit=false", "dataset.chat_template=auto", "model.max_seq_length=128"]


def _gpu(bf16: bool) -> HardwareInfo:
    gpu = GPUInfo(name="GPU", vram_gb=24.0, capability="8.0" if bf16 else "7.5", bf16=bf16)
    return HardwareInfo(torch_version="2.13.0", cuda_version="12.4", gpus=[gpu])


@pytest.fixture
def based(project, monkeypatch):
    """A project whose metrics/baseline.json `forge baseline` wrote for builtin:tiny-llama (the
    scoring pass stood in for: float32, as on the CPU)."""
    import forge.evaluate.baseline as baseline_mod
    from forge.evaluate.baseline import compute_baseline

    detail = scores(2.0, 7.39, 0.2, 0.0)
    detail.precision = "float32"
    monkeypatch.setattr(baseline_mod, "score_with", lambda val, adapter=None: detail)
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    compute_baseline(project, TINY)
    return project


def _baseline_item(project, sets, hardware=CPU):
    from forge.check.before import run_checklist

    cl = run_checklist(project, [*TINY, *sets], hardware=hardware)
    (item,) = [i for i in cl.items if i.section == "Baseline Done"]
    return cl, item


def _evaluate_refusal(project, sets) -> ForgeError:
    from forge.evaluate.evaluation import compute_evaluation

    with pytest.raises(ForgeError) as e:
        compute_evaluation(project, overrides=[*TINY, *sets])
    return e.value


def test_check_does_not_tick_a_baseline_evaluate_refuses(based):
    """The QA repro: another model and a val file changed since the baseline."""
    with based.val_file.open("a") as f:
        f.write(json.dumps({"conversations": [{"from": "human", "value": "new?"}, {"from": "gpt", "value": "yes."}]}))
        f.write("\n")
    sets = ["model.name=builtin:tiny-gemma3"]
    cl, item = _baseline_item(based, sets)
    refused = _evaluate_refusal(based, sets)
    assert refused.kind == "baseline_mismatch"
    assert item.status == "warn", item  # not needed to train: warns like a missing baseline, check stays ready
    assert item.detail == refused.message  # evaluate's own words
    assert "builtin:tiny-llama" in item.detail and "builtin:tiny-gemma3" in item.detail and "sha256" in item.detail
    assert "forge baseline" in item.fix
    assert cl.ready


@pytest.mark.parametrize(
    "sets, words",
    [
        (["model.max_seq_length=256"], "max_seq_length: baseline 128, now 256"),
        (["evaluation.max_new_tokens=7"], "max_new_tokens"),
        (["dataset.chat_template=llama-3"], "chat_template"),
        (["model.dtype=bfloat16"], "dtype"),
    ],
)
def test_every_setting_evaluate_compares_is_compared_by_check(based, sets, words):
    _, item = _baseline_item(based, sets)
    assert item.status == "warn" and words in item.detail, item
    refused = _evaluate_refusal(based, sets).message
    # evaluate's words, line for line (model.dtype set: check also knows the precision it loads in,
    # which evaluate learns from the loaded model, after this refusal)
    assert words in refused and all(line in item.detail.splitlines() for line in refused.splitlines())


def test_a_matching_baseline_is_ticked(based):
    _, item = _baseline_item(based, [])
    assert item.status == "ok" and "model builtin:tiny-llama" in item.detail, item


def test_the_precision_this_machine_would_load_is_compared(based):
    # the baseline was scored in float32 (CPU); model.dtype null loads bfloat16 on an Ampere GPU
    _, item = _baseline_item(based, [], hardware=_gpu(bf16=True))
    assert item.status == "warn" and "precision of the loaded weights: baseline float32, now bfloat16" in item.detail
    assert "forge baseline" in item.fix and "model.dtype" in item.fix
    # a GPU without native bf16 may still load bfloat16 (torch emulates it): not known, not compared
    assert _baseline_item(based, [], hardware=_gpu(bf16=False))[1].status == "ok"


def test_evaluate_refuses_the_loaded_precision_with_the_same_rule(based, monkeypatch):
    from model_folders import write_adapter

    import forge.evaluate.evaluation as evaluation_mod

    write_adapter(based.lora_dir, "builtin:tiny-llama")
    tuned = scores(1.5, 4.48, 0.3, 0.0)
    tuned.precision = "bfloat16"
    monkeypatch.setattr(evaluation_mod, "score_with", lambda val, adapter=None: tuned)
    refused = _evaluate_refusal(based, [])
    assert refused.kind == "baseline_mismatch" and "baseline float32, now bfloat16" in refused.message


def test_missing_unreadable_and_no_val_keep_their_status(based):
    based.baseline_file.write_text(json.dumps({"val_loss": 2.0}))  # no model, no sha256: evaluate refuses it
    assert _baseline_item(based, [])[1].status == "fail"
    based.baseline_file.unlink()
    cl, item = _baseline_item(based, [])
    assert item.status == "warn" and "no baseline yet" in item.detail and cl.ready


def test_no_val_split_to_compare_with_is_evaluate_s_refusal(based):
    _, item = _baseline_item(based, ["dataset.val_path=null"])
    assert item.status == "warn" and "dataset.val_path is null" in item.detail and "forge baseline" in item.fix


def test_the_web_ui_marks_a_baseline_evaluate_would_refuse(based):
    from forge.web.metrics import metrics_view

    # the web UI reads training-config.json as it is (no --set): give it the baseline's settings
    cfg = json.loads(based.config_file.read_text())
    cfg["model"].update(load_in_4bit=False, max_seq_length=128)
    cfg["dataset"]["chat_template"] = "auto"
    based.config_file.write_text(json.dumps(cfg))
    view = metrics_view(based)
    assert view["baseline_stale"] is False and view["baseline_stale_reason"] is None
    cfg["model"]["name"] = "builtin:tiny-gemma3"
    based.config_file.write_text(json.dumps(cfg))
    view = metrics_view(based)
    assert view["baseline_stale"] is True and view["baseline"]["model"] == "builtin:tiny-llama"
    assert "builtin:tiny-gemma3" in view["baseline_stale_reason"] and "forge baseline" in view["baseline_stale_reason"]
    assert "baseline.json" not in view["problems"]  # it reads fine: it is stale, not broken
    based.baseline_file.unlink()
    assert metrics_view(based)["baseline_stale"] is None


def test_check_s_baseline_item_imports_no_torch(based):
    import forge

    src = str(Path(forge.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = f"""
import sys
from forge.check.baseline_item import check_baseline as _check_baseline
from forge.config import load_config
from forge.plan.hardware import HardwareInfo
from forge.project import Project
from forge.records.checklists import Checklist
p = Project.at({str(based.root)!r})
cl = Checklist(config=load_config(p.config_file, {TINY!r}), hardware=HardwareInfo(torch_version="2", gpus=[]))
_check_baseline(p, cl)
print(cl.items[0].status, 'torch' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "False"]


def test_load_in_4bit_on_a_cpu_changes_nothing_the_baseline_scored(based):
    # QA: a CPU baseline made with load_in_4bit true (the template's), then `forge plan --write` set it
    # false ("no GPU: bitsandbytes 4-bit needs CUDA"); check and evaluate refused the baseline as
    # "load_in_4bit: baseline True, now False", though both load float32 weights on this machine
    import forge.evaluate.baseline as baseline_mod
    from forge.evaluate.baseline import compute_baseline

    compute_baseline(based, [*TINY, "model.load_in_4bit=true"])
    assert baseline_mod.read_baseline(based).settings.load_in_4bit is True
    _, item = _baseline_item(based, [])
    assert item.status == "ok", item.detail
    refused = _evaluate_refusal(based, [])
    assert "load_in_4bit" not in refused.message  # evaluate gets past the baseline (to the adapter)
    # on a GPU the 4-bit load is real: the precision (nf4/bfloat16 against float32) refuses it
    _, item = _baseline_item(based, [], hardware=_gpu(True))
    assert item.status == "warn" and "precision of the loaded weights" in item.detail


def test_the_web_page_judges_the_4bit_flag_as_check_does(based):
    import forge.evaluate.baseline as baseline_mod
    from forge.evaluate.baseline import compute_baseline
    from forge.web.metrics import metrics_view

    compute_baseline(based, [*TINY, "model.load_in_4bit=true"])
    cfg = json.loads(based.config_file.read_text())
    cfg["model"].update(load_in_4bit=False, max_seq_length=128)
    cfg["dataset"]["chat_template"] = "auto"
    based.config_file.write_text(json.dumps(cfg))
    assert baseline_mod.read_baseline(based).settings.load_in_4bit is True
    assert metrics_view(based, hardware=CPU)["baseline_stale"] is False  # check's answer on this machine
    assert metrics_view(based)["baseline_stale"] is True  # no probe yet: the flags are all it can compare
