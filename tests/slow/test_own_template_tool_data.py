"""A model whose own chat template is Gemma 3's official one (no tool role; it raises unless roles
alternate user/assistant) on glaive tool-calling data: check, train and baseline all map the tool
turns to user turns as documented, keep every example, and never show a traceback (CPU, seconds).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import GEMMA3_OFFICIAL_TEMPLATE as OFFICIAL
from forge.cli import main

pytestmark = pytest.mark.slow


def _model(tmp_path: Path) -> Path:
    from forge.models.loader import resolve_model_path

    folder = tmp_path / "gemma3-official-template-model"
    shutil.copytree(resolve_model_path("builtin:tiny-gemma3"), folder)
    (folder / "forge-builtin.json").unlink(missing_ok=True)
    (folder / "chat_template.jinja").write_text(OFFICIAL)
    return folder


def test_official_gemma_template_on_tool_calling_data(tmp_path, external_dir, capsys):
    from forge.config import default_config_dict
    from forge.init.scaffold import init_project

    assert "raise_exception" in OFFICIAL and "'tool'" not in OFFICIAL
    rows = json.loads((external_dir / "glaive_toolcall_en_demo.json").read_text())
    tool_rows = [r for r in rows if any(t["from"] == "observation" for t in r["conversations"])]
    proj, _ = init_project(tmp_path / "p")
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in tool_rows[:40]))
    proj.val_file.write_text("".join(json.dumps(r) + "\n" for r in tool_rows[40:46]))
    cfg = default_config_dict()
    cfg["model"].update({"name": str(_model(tmp_path)), "max_seq_length": 1024, "load_in_4bit": False})
    cfg["dataset"].update({"chat_template": "auto", "min_samples": 1})
    cfg["training"].update({"optim": "adamw_torch", "eval_steps": None, "save_steps": 50})
    cfg["evaluation"].update({"generation_samples": 2, "max_new_tokens": 4})
    proj.config_file.write_text(json.dumps(cfg))

    assert main(["check", str(proj.root), "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for sec in checked["sections"].values() for i in sec}
    assert items["tokenizer fits the data"]["status"] == "ok"  # measured with the model's own template
    assert "tokenizer of" in items["tokenizer fits the data"]["detail"]

    assert main(["train", str(proj.root), "--set", "training.max_steps=2"]) == 0
    log = proj.root.joinpath("logs", "training.log").read_text()
    assert "train split tokenized: 40/40 examples kept" in log, log
    assert "tool turns are rendered as user turns" in log and "TemplateError" not in log

    assert main(["baseline", str(proj.root)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    baseline = json.loads(proj.baseline_file.read_text())
    assert baseline["scores"]["examples_dropped"] == 0 and baseline["scores"]["generation_samples"] == 2

    # the exported model takes the same tool conversations, rendered as training rendered them
    assert main(["export", str(proj.root), "--merged", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert any("tool turns are rendered as user turns" in n for n in report.get("notes", [])), report
    from transformers import AutoTokenizer

    from forge.data.formats import normalize
    from forge.models.jinja_render import render
    from forge.models.template_roles import adapt_messages, role_support

    merged = AutoTokenizer.from_pretrained(proj.merged_dir)
    special = {"bos_token": merged.bos_token, "eos_token": merged.eos_token}
    msgs = normalize(tool_rows[0]).messages
    assert any(m["role"] == "tool" for m in msgs)
    trained = render(
        OFFICIAL, adapt_messages(msgs, role_support(OFFICIAL, tuple(sorted(special.items())))), False, special
    )
    assert merged.apply_chat_template(msgs, tokenize=False) == trained


def test_check_names_the_line_a_model_template_fails_on(tmp_path, capsys):
    """A template that raises on some conversations: check fails or warns "tokenizer fits the data"
    with the first file:line (before, measuring fell back to a guess and the item was left out)."""
    from forge.config import default_config_dict
    from forge.init.scaffold import init_project

    folder = _model(tmp_path)
    plain = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}{% if 'BOOM' in m['content'] %}{{ raise_exception('no BOOM here') }}"
        "{% endif %}{% endfor %}" + plain
    )
    proj, _ = init_project(tmp_path / "p")
    rows = [
        {
            "conversations": [
                {"from": "human", "value": f"q{i}" + (" BOOM" if i == 3 else "")},
                {"from": "gpt", "value": "a"},
            ]
        }
        for i in range(12)
    ]
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proj.val_file.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    cfg = default_config_dict()
    cfg["model"].update({"name": str(folder), "max_seq_length": 256, "load_in_4bit": False})
    cfg["dataset"].update({"chat_template": "auto", "min_samples": 1})
    proj.config_file.write_text(json.dumps(cfg))

    main(["check", str(proj.root), "--json"])
    checked = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for sec in checked["sections"].values() for i in sec}
    item = items["tokenizer fits the data"]
    assert item["status"] in ("warn", "fail"), item
    assert "train.jsonl:4" in item["detail"] and "no BOOM here" in item["detail"], item
