"""`forge evaluate --artifact`: what a user ships is gated, and each failure is caught (slow: CPU).

One trained tiny-llama project (module fixture: train, baseline, export --merged --gguf q8_0) is
copied per test. The failures the issue names are made for real:
- a GGUF exported from another adapter, copied into place: refused, not scored (exit 1);
- a GGUF whose chat-template metadata was edited (gguf's own metadata rewriter): template parity fails (exit 3);
- a quantization that loses the gain (a Q4_K_M GGUF of the base model, marked as this adapter's): exit 3,
  naming Q4_K_M, the share of the gain lost and Q8_0 to try instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import chat_rows, forge_here

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp")

TRAIN = [
    "model.name=builtin:tiny-llama",
    "model.load_in_4bit=false",
    "model.max_seq_length=64",
    "dataset.chat_template=llama-3",
    "training.max_steps=8",
    "training.learning_rate=5e-3",
    "training.warmup_steps=1",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "evaluation.generation_samples=4",
    "evaluation.max_new_tokens=8",
]


def _rows(n: int, prefix: str) -> list[dict]:
    return chat_rows(n, prefix, answer="Forty-two.")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path_factory.mktemp("artifacts") / "p")
    for path, rows in ((proj.train_file, _rows(32, "q")), (proj.val_file, _rows(4, "v"))):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = json.loads(proj.config_file.read_text())
    for key in TRAIN:  # the config itself, so that baseline, evaluate and export all read it
        dotted, value = key.split("=", 1)
        section, name = dotted.split(".")
        cfg[section][name] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    root = proj.root
    for verb in (["train"], ["baseline"], ["export", "--merged", "--gguf", "q8_0"]):
        r = forge_here(verb[0], str(root), *verb[1:])
        assert r.returncode == 0, r.stdout + r.stderr
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("outputs"))
    return dst


def _evaluate(root: Path, artifact: str):
    r = forge_here("evaluate", str(root), "--artifact", artifact, "--json")
    return r, json.loads(r.stdout)


def _q8(root: Path) -> Path:
    return root / "models" / "quantized" / "tiny-llama-Q8_0.gguf"


def test_every_artifact_scored_and_gated(exported, tmp_path):
    root = _copy(exported, tmp_path / "p")
    r, data = _evaluate(root, "all")
    assert r.returncode == 0, r.stdout + r.stderr
    record = json.loads((root / "metrics" / "evaluation.json").read_text())
    assert record["schema_version"] == 2 and record["passed"] is True
    rows = {row["artifact"]: row for row in record["artifacts"]}
    assert list(rows) == ["adapter", "merged", "gguf:q8_0"]
    adapter = rows["adapter"]["scores"]["val_loss"]
    for name in ("merged", "gguf:q8_0"):
        row = rows[name]
        assert row["passed"] and row["template_parity"]["ok"], row
        assert row["adapter_sha256"] == record["adapter_fingerprint"]["sha256"]
        # the same examples and masking: the merged and 8-bit files score within 2% of the adapter
        assert abs(row["scores"]["val_loss"] - adapter) <= 0.02 * adapter, (name, row["scores"], adapter)
        assert row["detail"]["val_tokens_scored"] == record["fine_tuned_scores"]["val_tokens_scored"]
        assert len(row["detail"]["samples"]) == 4
    # a later `--artifact gguf:q8_0` reuses the adapter's scores and keeps the merged row
    r, data = _evaluate(root, "gguf:q8_0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [row["artifact"] for row in data["artifacts"]] == ["adapter", "gguf:q8_0", "merged"]


def test_gguf_of_another_adapter_is_refused(exported, tmp_path):
    """Export from a changed adapter in a copy, bring its GGUF back: the file names the other adapter."""
    from safetensors.torch import load_file, save_file

    root = _copy(exported, tmp_path / "p")
    other = _copy(exported, tmp_path / "other")
    weights = other / "models" / "checkpoints" / "lora" / "adapter_model.safetensors"
    tensors = {k: v * 1.5 if "lora_B" in k else v for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights))
    r = forge_here("export", str(other), "--gguf", "q8_0")
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.copy2(_q8(other), _q8(root))
    before = (root / "metrics" / "evaluation.json").exists()
    r = forge_here("evaluate", str(root), "--artifact", "gguf:q8_0", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    err = json.loads(r.stdout)
    assert err["kind"] == "artifact_provenance" and "tiny-llama-Q8_0.gguf was made from adapter" in err["error"]
    assert "forge export" in err["fix"]
    assert (root / "metrics" / "evaluation.json").exists() == before  # not scored, nothing written


def test_edited_chat_template_fails_template_parity(exported, tmp_path):
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    root = _copy(exported, tmp_path / "p")
    src = _q8(root)
    edited = tmp_path / "edited.gguf"
    reader = gguf.GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    template = reader.fields["tokenizer.chat_template"].contents()
    changed = template.replace("<|start_header_id|>", "<|start_header_id|> ", 1)
    assert changed != template
    writer = gguf.GGUFWriter(str(edited), arch=arch, endianess=reader.endianess)
    new = {gguf.Keys.Tokenizer.CHAT_TEMPLATE: MetadataDetails(gguf.GGUFValueType.STRING, changed)}
    copy_with_new_metadata(reader, writer, new, [])
    del reader
    shutil.move(edited, src)
    r, data = _evaluate(root, "gguf:q8_0")
    assert r.returncode == 3, r.stdout + r.stderr
    row = next(x for x in data["artifacts"] if x["artifact"] == "gguf:q8_0")
    assert row["verdict"] == "fail" and row["template_parity"]["ok"] is False
    assert "differs from training's at character" in row["template_parity"]["detail"]
    assert any("template parity" in why for why in row["reasons"])
    # the adapter itself still passes: only the artifact fails
    assert next(x for x in data["artifacts"] if x["artifact"] == "adapter")["passed"] is True


def test_quantization_that_loses_the_gain_fails_with_exit_3(exported, tmp_path):
    """A Q4_K_M of the base model, marked as made from this adapter: everything training gained is lost."""
    from forge.check.artifacts import adapter_fingerprint
    from forge.export.gguf import convert, quantize
    from forge.models.loader import resolve_model_path
    from forge.records.export import GGUF_ADAPTER_KEY

    root = _copy(exported, tmp_path / "p")
    sha = adapter_fingerprint(root / "models" / "checkpoints" / "lora")["sha256"]
    base = Path(resolve_model_path("builtin:tiny-llama"))
    f16 = tmp_path / "base-f16.gguf"
    convert(base, f16, "f16", model_name="tiny-llama", metadata={GGUF_ADAPTER_KEY: sha})
    quantize(f16, root / "models" / "quantized" / "tiny-llama-Q4_K_M.gguf", "q4_k_m")
    r = forge_here("evaluate", str(root), "--artifact", "gguf:q4_k_m")
    assert r.returncode == 3, r.stdout + r.stderr
    out = " ".join(r.stdout.split())
    assert "GGUF Q4_K_M fails the gate the adapter passes" in out
    assert "of the fine-tuning gain lost" in out and "try Q8_0 instead of Q4_K_M" in out
    record = json.loads((root / "metrics" / "evaluation.json").read_text())
    row = next(x for x in record["artifacts"] if x["artifact"] == "gguf:q4_k_m")
    assert row["passed"] is False and row["suggestion"] == "gguf:q8_0" and row["gain_lost"] > 0.5
    assert record["passed"] is False and record["artifacts"][0]["passed"] is True
