"""`forge split DIR --from FILE`: train and val from one file, duplicates dropped, val answers unseen.

Issue 28 (13): a user had to split by hand, and check then failed for lack of a val split.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from forge.cli import main
from forge.data.validate import validate_splits
from forge.init.scaffold import init_project
from forge.lock import ProjectLock, lock_path


def _row(q: str, a: str) -> dict:
    return {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}


def _source(path, n=60):
    rows = [_row(f"question {i}?", f"answer {i}.") for i in range(n)]
    rows += [_row("question 3?", "answer 3."), _row("question 7?", "answer 7.")]  # exact duplicates
    rows += [_row(f"thanks {i}!", "You're welcome.") for i in range(4)]  # one canned answer, four questions
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _split(root, *args) -> tuple[int, dict]:
    res = subprocess.run(
        [sys.executable, "-m", "forge", "split", str(root), *args, "--json"], capture_output=True, text=True
    )
    return res.returncode, json.loads(res.stdout)


def _no_val_answer_in_train(proj):
    train, val = validate_splits(proj.train_file, proj.val_file)
    assert train.ok and val.ok
    assert val.leaked == 0 and val.answers_in_train == 0, val.answers_in_train_lines
    return train, val


def test_split_drops_duplicates_and_keeps_val_answers_out_of_train(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    src = _source(tmp_path / "all.jsonl")
    code, out = _split(proj.root, "--from", str(src), "--val-fraction", "0.2", "--seed", "1")
    assert code == 0, out
    assert out["records"] == 66 and out["duplicates"] == 2
    assert [(d["line"], d["first_line"]) for d in out["duplicates_listed"]] == [(61, 4), (62, 8)]
    assert out["train"] + out["val"] == 64 and out["val"] == round(0.2 * 64)
    assert out["answer_groups"] == 1 and out["grouped_records"] == 4
    assert out["written"] == ["data/splits/train.jsonl", "data/splits/val.jsonl"] and out["replaced"] == []
    train, val = _no_val_answer_in_train(proj)
    assert train.duplicates == 0 and (train.valid, val.valid) == (out["train"], out["val"])
    # the records are written as they were read (ShareGPT stays ShareGPT)
    assert train.format == "sharegpt" and val.format == "sharegpt"


def test_the_same_seed_gives_the_same_split(tmp_path):
    src = _source(tmp_path / "all.jsonl")
    texts = []
    for name in ("a", "b"):
        proj, _ = init_project(tmp_path / name)
        assert main(["split", str(proj.root), "--from", str(src), "--seed", "5"]) == 0
        texts.append(proj.val_file.read_text())
    assert texts[0] == texts[1]


def test_existing_splits_are_kept_without_force(tmp_path, capsys):
    proj, _ = init_project(tmp_path / "p")
    src = _source(tmp_path / "all.jsonl")
    assert main(["split", str(proj.root), "--from", str(src)]) == 0
    before = proj.train_file.read_text()
    code, out = _split(proj.root, "--from", str(src), "--seed", "2")
    assert code == 2 and "already there" in out["error"] and "--force" in out["fix"]
    assert proj.train_file.read_text() == before
    code, out = _split(proj.root, "--from", str(src), "--seed", "2", "--force")
    assert code == 0 and out["replaced"] == ["data/splits/train.jsonl", "data/splits/val.jsonl"]


def test_bad_records_refuse_the_split_naming_the_line(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    src = _source(tmp_path / "all.jsonl")
    src.write_text(src.read_text() + '{"conversations": [{"from": "human", "value": "no answer"}]}\n')
    code, out = _split(proj.root, "--from", str(src))
    assert code == 2 and out["kind"] == "data" and "all.jsonl:67" in out["error"]
    assert not proj.train_file.exists() and not proj.val_file.exists()


@pytest.mark.parametrize("fraction", ["0", "1.5"])
def test_a_bad_fraction_is_a_usage_error(tmp_path, fraction):
    proj, _ = init_project(tmp_path / "p")
    code, out = _split(proj.root, "--from", str(_source(tmp_path / "all.jsonl")), "--val-fraction", fraction)
    assert code == 2 and "--val-fraction" in out["error"]


def test_split_takes_the_project_lock(tmp_path):
    proj, _ = init_project(tmp_path / "p")
    src = _source(tmp_path / "all.jsonl")
    with ProjectLock(lock_path(proj), "train"):
        code, out = _split(proj.root, "--from", str(src))
    assert code == 1 and "train" in out["error"]
    assert not proj.train_file.exists()


@pytest.mark.parametrize(
    ("name", "fmt"), [("alpaca_en_demo.json", "alpaca"), ("glaive_toolcall_en_demo.json", "sharegpt")]
)
def test_the_external_sets_split_into_checked_splits(tmp_path, external_dir, name, fmt):
    src = shutil.copy(external_dir / name, tmp_path / name)
    proj, _ = init_project(tmp_path / "p")
    code, out = _split(proj.root, "--from", str(src))
    assert code == 0, out
    assert out["format"] == fmt and out["duplicates"] > 0  # both sets repeat some conversations
    assert out["train"] + out["val"] + out["duplicates"] == out["records"]
    assert 0.07 <= out["val_fraction"] <= 0.1
    train, val = _no_val_answer_in_train(proj)
    assert train.duplicates == 0 and train.format == fmt
