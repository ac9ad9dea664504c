"""A real tiny run with `forge train --config exp1.json`, then the plain verbs after it (CPU, seconds).

QA: the adapter went to exp1.json's save.lora_path (models/exp1), but train's summary said
"adapter in models/checkpoints/lora", `forge verify` found no adapter and `forge export` looked in
the default folder. Now the summary prints the run's own folders, and verify, export and evaluate
with no flags read the config the run trained with (its record in training-stats.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import forge_here

from forge.cli import main
from forge.files import sha256_file
from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow


def _rows(n: int, prefix: str) -> list[dict]:
    return [
        {"conversations": [{"from": "human", "value": f"{prefix} question {i}?"}, {"from": "gpt", "value": "Yes."}]}
        for i in range(n)
    ]


def _project(root: Path) -> Path:
    proj, _ = init_project(root)
    for path, rows in ((proj.train_file, _rows(24, "q")), (proj.val_file, _rows(4, "v"))):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"].update({"name": "builtin:tiny-llama", "load_in_4bit": False, "max_seq_length": 64})
    cfg["dataset"]["chat_template"] = "llama-3"
    cfg["training"].update({"max_steps": 2, "save_steps": 2, "logging_steps": 1, "per_device_train_batch_size": 4})
    cfg["evaluation"].update({"generation_samples": 0, "max_new_tokens": 4})
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    cfg["save"]["lora_path"] = "models/exp1"
    cfg["training"]["output_dir"] = "outputs-exp1"
    (proj.root / "exp1.json").write_text(json.dumps(cfg, indent=2))
    return proj.root


def _json(capsys, *argv) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_plain_verbs_after_train_with_config_use_its_folders(tmp_path, capsys):
    root = _project(tmp_path / "p")
    r = forge_here("train", str(root), "--config", str(root / "exp1.json"), env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "models" / "exp1" / "adapter_model.safetensors").is_file()
    assert "adapter in models/exp1" in r.stdout and "checkpoints in outputs-exp1" in r.stdout, r.stdout
    assert "models/checkpoints/lora" not in r.stdout and "--config exp1.json" in r.stdout
    stats = json.loads((root / "metrics" / "training-stats.json").read_text())
    assert stats["config_source"] == {"file": "exp1.json", "overrides": [], "sha256": sha256_file(root / "exp1.json")}
    assert stats["paths"]["lora_path"] == "models/exp1" and stats["paths"]["output_dir"] == "outputs-exp1"

    code, doc = _json(capsys, "verify", str(root), "--json")
    required = {i["name"]: i for i in doc["sections"]["Required"]}
    assert required["adapter_model.safetensors"]["status"] == "ok", required
    assert "models/exp1" in required["adapter_config.json"]["detail"] and doc["config"]["file"] == "exp1.json"

    code, report = _json(capsys, "export", str(root), "--merged", "--json")
    assert code == 0 and report["adapter"].endswith("models/exp1"), report
    assert any("--config exp1.json" in n for n in report["notes"])

    assert main(["baseline", str(root)]) == 0  # the next run's config: training-config.json, the same model
    code, ev = _json(capsys, "evaluate", str(root), "--json", "--threshold", "0")
    assert code in (0, 3) and ev["adapter"] == "models/exp1" and "fine_tuned_scores" in ev


# `forge train P --set model.name=X` over an unchanged training-config.json: the plain verbs after it
# read the run's config (the file + those --set values), and say so; once the file is edited, they
# read it as it is, and export refuses the adapter of another base, with its fix (exit 2).
SETS = ["--set", "model.name=builtin:tiny-gemma3", "--set", "dataset.chat_template=auto"]


@pytest.fixture(scope="module")
def trained_with_set(tmp_path_factory) -> Path:
    root = _project(tmp_path_factory.mktemp("set") / "p")  # training-config.json: builtin:tiny-llama
    assert main(["train", str(root), *SETS]) == 0
    return root


def test_plain_verbs_follow_a_run_trained_with_set_over_the_unchanged_file(trained_with_set, capsys):
    root = trained_with_set
    code, doc = _json(capsys, "verify", str(root), "--json")
    required = {i["name"]: i for i in doc["sections"]["Required"]}
    assert required["adapter base"]["status"] == "ok", required
    (note,) = doc["config"]["notes"]
    assert "unchanged since" in note and "--set model.name=builtin:tiny-gemma3" in note
    code, report = _json(capsys, "export", str(root), "--merged", "--json")
    assert code == 0 and report["ok"], report
    assert any("--set model.name=builtin:tiny-gemma3" in n for n in report["notes"])


def test_plain_export_refuses_once_the_file_was_edited_since(trained_with_set, tmp_path, capsys):
    import shutil

    root = tmp_path / "p"
    shutil.copytree(trained_with_set, root)
    cfg = json.loads((root / "training-config.json").read_text())
    cfg["training"]["learning_rate"] = 1e-4
    (root / "training-config.json").write_text(json.dumps(cfg, indent=2))
    capsys.readouterr()
    code = main(["export", str(root), "--merged", "--json"])
    said = capsys.readouterr()
    doc = json.loads(said.out)
    assert code == 2 and "builtin:tiny-gemma3" in doc["error"] and "--set model.name=builtin:tiny-gemma3" in doc["fix"]
    assert "changed since" in " ".join(said.err.split())
