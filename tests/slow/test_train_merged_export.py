"""`forge train` with save.merged_path makes its merged model through `forge export --merged`'s
pipeline (forge.train.saving.export_after_training): the same files, the same checks, the same report.

- the tiny Gemma 3 VLM: the merged folder carries the processor files and tokenizer.model, loads
  with AutoProcessor, and `forge verify` and metrics/export-report.json agree that it was made and
  verified from the adapter that is there now;
- the tiny Llama: generation_config.json stops at the template's end-of-turn token and the
  tokenizer's eos.

CPU, two optimizer steps each, in-process CLI (slow: about 30 s for the module, most of it the VLM).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import export_report as _report

from forge.cli import main
from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

MERGED = "outputs/merged"
FAST = [
    "model.load_in_4bit=false",
    "model.max_seq_length=48",
    "dataset.val_path=null",
    "training.max_steps=2",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "training.optim=adamw_torch",
    "training.backend=hf",
    f"save.merged_path={MERGED}",
]


def _project(root: Path, model: str, template: str) -> Path:
    proj, _ = init_project(root)
    rows = [
        {"conversations": [{"from": "human", "value": f"q {i}?"}, {"from": "gpt", "value": "Forty-two."}]}
        for i in range(8)
    ]
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"]["name"], cfg["dataset"]["chat_template"] = model, template
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    return proj.root


def _train(root: Path) -> None:
    args = ["train", str(root), "--json"]
    for s in FAST:
        args += ["--set", s]
    assert main(args) == 0, (root / "logs" / "training.log").read_text()[-3000:]
    status = json.loads((root / ".factory" / "training-status.json").read_text())
    assert status["phase"] == "done", status


def test_train_merged_vlm_is_exports_merged_model(tmp_path, capsys):
    from transformers import AutoProcessor

    root = _project(tmp_path / "vlm", "builtin:tiny-gemma3-vlm", "gemma-3")
    _train(root)
    merged = root / MERGED
    for name in ("preprocessor_config.json", "processor_config.json", "tokenizer.model", "generation_config.json"):
        assert (merged / name).is_file(), name
    assert list(merged.glob("*.safetensors")) and not list(merged.parent.glob("merged.partial*"))

    processor = AutoProcessor.from_pretrained(merged)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert "<start_of_image>What colour?<end_of_turn>" in text

    # the export report: made by this run, from the adapter just saved, every check passed
    report = _report(root)
    assert report["ok"] and report["merged"]["kept"] and report["merged"]["path"] == merged.relative_to(root).as_posix()
    assert all(c["ok"] for c in report["checks"]), report["checks"]
    names = {c["name"] for c in report["checks"]}
    assert {"adapter loaded", "processor", "vision tower"} <= names
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["total_steps"] == 2
    log = (root / "logs" / "training.log").read_text()
    assert "export: merging the adapter" in log and "export verified: merged model" in log

    # forge verify, with the config naming the same folder, agrees: present, whole, this adapter's
    cfg_file = root / "training-config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["save"]["merged_path"] = MERGED
    cfg_file.write_text(json.dumps(cfg, indent=2))
    capsys.readouterr()
    main(["verify", str(root), "--json"])
    out = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for sec in out["sections"].values() for i in sec}
    assert items["merged model"]["status"] == "ok", items["merged model"]
    assert items["outputs made from this adapter"]["status"] == "ok", items["outputs made from this adapter"]


def test_train_merged_text_model_stops_at_the_template_eos(tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from forge.models.templates import template_for
    from forge.status import StatusWriter

    phases: list[str] = []
    phase = StatusWriter.phase

    def record(self, name, **changes):
        phases.append(name)
        return phase(self, name, **changes)

    monkeypatch.setattr(StatusWriter, "phase", record)
    root = _project(tmp_path / "llama", "builtin:tiny-llama", "llama-3")
    _train(root)
    assert phases[-3:] == ["saving", "exporting", "done"], phases  # the stats are written before the export
    merged = root / MERGED
    gen = json.loads((merged / "generation_config.json").read_text())
    eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    tok = AutoTokenizer.from_pretrained(merged)
    eot = tok.convert_tokens_to_ids(template_for("llama-3", tok).eos_token)
    assert eot == tok.convert_tokens_to_ids("<|eot_id|>")
    assert eos[0] == eot and tok.eos_token_id in eos, (eos, eot, tok.eos_token_id)
    assert "<|start_header_id|>" in (tok.chat_template or "")
    report = _report(root)
    assert (
        report["ok"]
        and report["merged"]["path"] == merged.relative_to(root).as_posix()
        and report["chat_template"] == "llama-3"
    )
