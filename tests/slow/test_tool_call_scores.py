"""Tool-call scores when the val split holds tool calls (glaive's function_call turns): `forge
baseline` on tiny-llama scores the generated calls beside token F1 (slow: one scoring pass)."""

from __future__ import annotations

import json

import pytest
from tests.conftest import forge_here

pytestmark = pytest.mark.slow


def test_glaive_val_split_gets_tool_call_scores(tmp_path, external_dir):
    from forge.init.scaffold import init_project

    rows = json.loads((external_dir / "glaive_toolcall_en_demo.json").read_text())
    proj, _ = init_project(tmp_path / "g")
    proj.val_file.write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"].update(name="builtin:tiny-llama", load_in_4bit=False, max_seq_length=512)
    cfg["dataset"]["chat_template"] = "llama-3"
    cfg["evaluation"].update(generation_samples=4, max_new_tokens=8)
    proj.config_file.write_text(json.dumps(cfg))
    r = forge_here("baseline", str(proj.root), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    scores = json.loads(r.stdout)["scores"]
    calls = scores["tool_calls"]
    # conversations 0 and 3 of the sample call a tool mid-way: the prompt runs up to that call
    assert calls["samples"] >= 1 and set(calls) == {"samples", "valid_json", "name_match", "arguments_match"}
    first = scores["tool_call_samples"][0]
    assert json.loads(first["reference"])["name"] and set(first["tool_call"]) == set(calls) - {"samples"}
    assert all(0.0 <= calls[k] <= 1.0 for k in ("valid_json", "name_match", "arguments_match"))
