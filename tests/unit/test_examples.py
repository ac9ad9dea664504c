"""The `support` example: generated deterministically, valid, no val question in train; init writes it."""

import json

import pytest

from forge.config import default_config_dict, validate_dict
from forge.data.example_support import TRAIN_SIZE, VAL_SIZE, generate
from forge.data.examples import EXAMPLES, example_config_overrides, rows_to_jsonl


def test_deterministic_sizes_and_disjoint():
    train, val = generate(0)
    assert (len(train), len(val)) == (TRAIN_SIZE, VAL_SIZE)
    again = generate(0)
    assert rows_to_jsonl(train) == rows_to_jsonl(again[0]) and rows_to_jsonl(val) == rows_to_jsonl(again[1])
    questions = {r["conversations"][0]["value"] for r in train}
    assert len(questions) == TRAIN_SIZE  # no duplicates
    assert not any(r["conversations"][0]["value"] in questions for r in val)  # no leakage
    assert generate(1)[0] != train


def test_no_val_answer_in_train_but_every_fact_is():
    """Issue 28 (5): 22 of the 24 val answers were train answers word for word, so the demo's
    scores measured recall. Now none is; the facts of every val answer's intent and product are
    in train (for another customer), so a right answer is learnt, not recalled."""
    train, val = generate(0)
    answers = {r["conversations"][1]["value"] for r in train}
    assert not [r for r in val if r["conversations"][1]["value"] in answers]
    facts = {a.split("! ", 1)[1] for a in answers}
    unseen_facts = [r for r in val if r["conversations"][1]["value"].split("! ", 1)[1] not in facts]
    assert all("order" in r["conversations"][1]["value"] for r in unseen_facts)  # only order numbers are new


def test_forge_check_finds_no_val_answer_in_train(tmp_path):
    from forge.data.validate import validate_splits

    train, val = generate(0)
    (tmp_path / "train.jsonl").write_text(rows_to_jsonl(train))
    (tmp_path / "val.jsonl").write_text(rows_to_jsonl(val))
    _, v = validate_splits(tmp_path / "train.jsonl", tmp_path / "val.jsonl")
    assert v.answers_in_train == 0 and v.answers_in_train_count == 0


def test_one_house_style():
    train, val = generate(0)
    for row in train + val:
        turns = row["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"]
        assert turns[1]["value"].rstrip().endswith(")") and "(KB-1" in turns[1]["value"]
        name = turns[0]["value"].rsplit("(", 1)[1].rstrip(")")  # the customer signs; the answer greets them
        assert turns[1]["value"].startswith(f"Hi {name}! ")
    intents = {r["conversations"][1]["value"].rsplit("(KB-", 1)[1] for r in val}
    assert len(intents) == 12  # val covers every intent


def test_files_valid_per_forge_data(tmp_path):
    from forge.data.validate import validate_splits

    train, val = generate(0)
    (tmp_path / "train.jsonl").write_text(rows_to_jsonl(train))
    (tmp_path / "val.jsonl").write_text(rows_to_jsonl(val))
    t, v = validate_splits(tmp_path / "train.jsonl", tmp_path / "val.jsonl")
    assert t.ok and v.ok and t.valid == TRAIN_SIZE and v.valid == VAL_SIZE
    assert not t.duplicates and not v.leaked


@pytest.mark.parametrize("model", [None, "builtin:tiny-llama", "unsloth/gemma-3-4b-it"])
def test_config_overrides_validate(model):
    cfg = default_config_dict()
    for section, values in example_config_overrides("support", model).items():
        cfg[section].update(values)
    c = validate_dict(cfg)
    assert c.model.name == (model or "builtin:gemma-3-270m")
    assert c.dataset.chat_template == ("gemma-3" if model and not model.startswith("builtin:") else "tokenizer")


def test_init_example_writes_data_and_keeps_user_files(tmp_path):
    from forge.cli import main
    from forge.project import Project

    assert "support" in EXAMPLES
    d = tmp_path / "p"
    assert main(["init", str(d), "--example", "support"]) == 0
    p = Project.at(d)
    assert len(p.train_file.read_text().splitlines()) == TRAIN_SIZE
    cfg = json.loads(p.config_file.read_text())
    assert cfg["model"]["name"] == "builtin:gemma-3-270m" and cfg["model"]["max_seq_length"] == 256
    p.val_file.write_text("mine\n")
    assert main(["init", str(d), "--example", "support"]) == 0
    assert p.val_file.read_text() == "mine\n"  # never overwritten


def test_unknown_example_is_usage_error(tmp_path, capsys):
    from forge.cli import main

    assert main(["init", str(tmp_path / "q"), "--example", "nope"]) == 2
    assert "support" in capsys.readouterr().err


def test_example_on_an_existing_project_writes_no_demo_marker_and_demo_leaves_it(tmp_path):
    """QA: `forge init DIR --example support` on a user's project kept their config and data but
    wrote forge-example.json, and `forge demo DIR` then cleared their adapter and metrics."""
    from forge.data.examples import DEMO_MARKER, is_example_project
    from forge.demo.setup import prepare_project
    from forge.errors import ForgeError
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "mine")
    proj.train_file.write_text('{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}\n')
    adapter = proj.root / "models" / "checkpoints" / "lora" / "adapter_model.safetensors"
    adapter.parent.mkdir(parents=True)
    adapter.write_bytes(b"weights")
    init_project(proj.root, example="support")
    assert not (proj.root / DEMO_MARKER).exists() and not is_example_project(proj.root)
    # a marker an older forge wrote beside the user's data does not make it a demo folder either
    (proj.root / DEMO_MARKER).write_text('{"example": "support", "train": 320, "val": 24}\n')
    assert not is_example_project(proj.root)
    with pytest.raises(ForgeError, match="not a forge demo project"):
        prepare_project(proj.root, "builtin:tiny-llama", {})
    assert adapter.read_bytes() == b"weights"


def test_a_new_example_folder_is_marked_and_reusable(tmp_path):
    from forge.data.examples import is_example_project
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "demo", example="support")
    assert is_example_project(proj.root)
