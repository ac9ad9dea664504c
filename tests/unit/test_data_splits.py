"""Issue 15.6-15.7: errors name the split and its path; huge records are cut before tokenization."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from model_folders import chat_rows, write_rows

from forge.cli import main
from forge.plan.hardware import HardwareInfo

CPU = HardwareInfo(torch_version="2.13.0", cpu_count=2, ram_gb=16, problem="no CUDA GPU visible")
SRC = Path(__file__).resolve().parents[2] / "src" / "forge" / "data"


@pytest.mark.parametrize("split", ["train", "val"])
def test_an_empty_split_is_named_with_its_path(project, monkeypatch, capsys, split):
    # 8bff25f: "no records: the file is empty" for either file, with no path
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    (project.root / f"data/splits/{split}.jsonl").write_text("")
    want = f"data/splits/{split}.jsonl: no records: the file is empty"
    assert main(["check", str(project.root), "--json", "--set", "model.name=builtin:tiny-llama"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert any(want in i["detail"] for sec in out["sections"].values() for i in sec)
    assert main(["train", str(project.root), "--set", "model.name=builtin:tiny-llama"]) == 2
    capsys.readouterr()
    assert want in json.loads(project.status_file.read_text())["error"]


def test_reader_and_validate_import_one_way():
    imports = set()
    for node in ast.walk(ast.parse((SRC / "reader.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            imports.add(node.module)
    assert not {m for m in imports if m and m.startswith("forge.data.")}, imports


def test_a_cut_record_keeps_the_tokens_training_keeps(tmp_path):
    from forge.data import load_split
    from forge.data.bound import char_bound
    from forge.models.loader import builtin_path
    from forge.plan.measure import offline_tokenizer
    from forge.train.dataset import tokenize_conversations

    tok = offline_tokenizer(str(builtin_path("builtin:tiny-llama")))
    big = {
        "conversations": [{"from": "human", "value": "hello " * 20}, {"from": "gpt", "value": "the answer " * 30000}]
    }
    f = write_rows(tmp_path / "train.jsonl", [*chat_rows(3), big])
    full, _ = load_split(f)
    cut, report = load_split(f, max_chars=char_bound(64), display="data/splits/train.jsonl")
    assert report.cut == 1 and report.cut_lines == [[4, len("hello " * 20) + len("the answer " * 30000)]]
    a, _ = tokenize_conversations(full, tok, 64)
    b, _ = tokenize_conversations(cut, tok, 64)
    assert [x["input_ids"] for x in a] == [x["input_ids"] for x in b]
    assert [x["labels"] for x in a] == [x["labels"] for x in b]


def test_check_names_the_huge_record(project, monkeypatch, capsys):
    import forge.plan.hardware as hw

    monkeypatch.setattr(hw, "probe", lambda: CPU)
    rows = chat_rows(120)
    rows[7] = {"conversations": [{"from": "human", "value": "x" * 200_000}, {"from": "gpt", "value": "ok"}]}
    write_rows(project.train_file, rows)
    main(["check", str(project.root), "--json", "--set", "model.name=builtin:tiny-llama"])
    out = json.loads(capsys.readouterr().out)
    items = [i for i in out["sections"]["Data Ready"] if i["name"] == "examples within max_seq_length"]
    assert (
        items and items[0]["status"] == "warn" and "data/splits/train.jsonl:8: 200,002 characters" in items[0]["detail"]
    )


CHILD = r"""
import json, resource, sys
from forge.data import load_split
from forge.data.bound import char_bound
from forge.models.loader import builtin_path
from forge.plan.measure import offline_tokenizer
from forge.train.dataset import tokenize_conversations
tok = offline_tokenizer(str(builtin_path("builtin:tiny-llama")))
convs, report = load_split(sys.argv[1], max_chars=char_bound(2048))
examples, drops = tokenize_conversations(convs, tok, 2048)
def peak_kb():
    # this process's own peak: ru_maxrss keeps the high-water mark of the forked parent across exec
    # (Linux), so under a pytest that has trained in-process it read the parent's 2 GB
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_kb": peak_kb(), "cut": report.cut,
                  "kept": drops.kept, "longest": max(len(e["input_ids"]) for e in examples)}))
"""


def test_a_50mb_record_tokenizes_under_2gb(tmp_path):
    # 8bff25f: one 50 MB example passed check and train peaked at 10 GB RSS
    text = ("the answer to the question is forty two " * (50_000_000 // 40 + 1))[:50_000_000]
    big = {"conversations": [{"from": "human", "value": "hello?"}, {"from": "gpt", "value": text}]}
    f = write_rows(tmp_path / "train.jsonl", [*chat_rows(4), big])
    del text, big
    res = subprocess.run([sys.executable, "-c", CHILD, str(f)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["cut"] == 1 and out["kept"] == 5 and out["longest"] == 2048
    assert out["rss_kb"] < 2 * 1024 * 1024, out
