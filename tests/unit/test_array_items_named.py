"""A JSON array written by `json.dump(rows, f)` is one line: each problem, and each conversation a
later step names (templating, scoring), says which item of the array it is. Before, every one read
`train.jsonl:1:`, and nobody could find the record."""

import json

from forge.data.validate import scan, validate_file

GOOD = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
NO_ANSWER = {"conversations": [{"from": "human", "value": "hi"}]}


def test_problems_in_a_one_line_array_name_the_item(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps([GOOD, GOOD, NO_ANSWER, GOOD, {"foo": 1}]))
    report = validate_file(f, display="data/splits/train.jsonl")
    rendered = [p.render(report.path) for p in report.problems]
    assert rendered[0].startswith("data/splits/train.jsonl:1: item 3: no assistant turn")
    assert rendered[1].startswith("data/splits/train.jsonl:1: item 5: no 'conversations'")
    assert [p["item"] for p in report.to_dict()["problems"]] == [3, 5]


def test_an_indented_array_keeps_its_lines_and_adds_the_item(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps([GOOD, NO_ANSWER], indent=2))
    (problem,) = validate_file(f).problems
    assert (problem.line, problem.item) == (14, 2)  # the line its `{` is on


def test_jsonl_is_named_by_line_alone(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in (GOOD, NO_ANSWER)) + "\n")
    (problem,) = validate_file(f).problems
    assert problem.item is None and problem.render("t.jsonl").startswith("t.jsonl:2: no assistant")


def test_conversations_say_where_they_came_from(tmp_path):
    f = tmp_path / "val.jsonl"
    f.write_text(json.dumps([GOOD, NO_ANSWER, GOOD]))
    _, conversations, _ = scan(f, collect=True, display="val.jsonl")
    assert [conversations.where(i) for i in range(2)] == ["val.jsonl:1: item 1", "val.jsonl:1: item 3"]


def sg(q: str, a: str = "a") -> dict:
    return {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}


def test_duplicates_and_leaks_in_one_line_arrays_name_the_items(tmp_path):
    # `check --json` gave duplicate_lines [[1, 1], ...] for an array json.dump wrote: no record found
    from forge.data.validate import validate_splits

    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    train.write_text(json.dumps([sg("q1"), sg("q2"), sg("q1"), NO_ANSWER, sg("q2")]))
    val.write_text(json.dumps([sg("q3"), sg("q2"), sg("q1")]))
    tr, va = (r.to_dict() for r in validate_splits(train, val))
    assert tr["duplicate_lines"] == [[1, 1], [1, 1]]  # unchanged meaning: lines
    assert tr["duplicate_items"] == [[3, 1], [5, 2]]  # the item numbers, pair for pair
    assert va["leaked_lines"] == [[1, 1], [1, 1]]
    assert va["leaked_items"] == [[2, 2], [3, 1]]  # [val item, train item]


def test_jsonl_reports_keep_their_keys_and_a_mixed_pair_names_the_array_side(tmp_path):
    from forge.data.validate import validate_splits

    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in (sg("q1"), sg("q2"), sg("q1"))))
    val.write_text("".join(json.dumps(r) + "\n" for r in (sg("q3"), sg("q2"))))
    tr, va = (r.to_dict() for r in validate_splits(train, val))
    assert tr["duplicate_lines"] == [[3, 1]] and va["leaked_lines"] == [[2, 2]]
    assert not {"duplicate_items", "leaked_items"} & (tr.keys() | va.keys())  # JSONL output as before
    val.write_text(json.dumps([sg("q3"), sg("q2")]))  # val an array, train JSONL
    va = validate_splits(train, val)[1].to_dict()
    assert va["leaked_lines"] == [[1, 2]] and va["leaked_items"] == [[2, None]]


def _format_fix(tmp_path, text: str, val: str | None = None):
    from forge.check.before import _check_data
    from forge.project import Project
    from forge.records.checklists import Checklist

    project = Project.at(tmp_path)
    split = tmp_path / "data" / "splits"
    split.mkdir(parents=True, exist_ok=True)
    (split / "train.jsonl").write_text(text)
    (split / "val.jsonl").write_text(val or json.dumps(GOOD) + "\n")
    cl = Checklist()
    _check_data(project, cl)
    return {i.name: i.fix for i in cl.items if i.status == "fail"}


def test_the_fix_says_items_where_the_problems_name_items(tmp_path):
    # check said "fix or drop the lines named above" under "train.jsonl:1: item 3: ..." lines
    fixes = _format_fix(tmp_path, json.dumps([GOOD, GOOD, NO_ANSWER]), val=json.dumps([GOOD, NO_ANSWER]))
    assert fixes["format valid"].startswith("fix or drop the items named above")
    jsonl = "\n".join(json.dumps(r) for r in (GOOD, NO_ANSWER)) + "\n"
    assert _format_fix(tmp_path, jsonl)["format valid"].startswith("fix or drop the lines named above")


def test_train_refuses_an_array_naming_items(tmp_path):
    import logging
    from types import SimpleNamespace

    import pytest

    from forge.config import ForgeConfig
    from forge.data.reader import DataError
    from forge.project import Project
    from forge.train.prepare import validate_data

    split = tmp_path / "data" / "splits"
    split.mkdir(parents=True)
    (split / "train.jsonl").write_text(json.dumps([GOOD, NO_ANSWER]))
    settings = SimpleNamespace(cfg=ForgeConfig())
    with pytest.raises(DataError) as e:
        validate_data(Project.at(tmp_path), settings, logging.getLogger("t"))
    assert "data/splits/train.jsonl:1: item 2: no assistant turn" in e.value.message
    assert e.value.fix.startswith("fix or remove the items named above")


def test_what_the_problems_name(tmp_path):
    from forge.data.validate import validate_file

    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps([GOOD, NO_ANSWER]))
    assert validate_file(f).named() == "items"
    f.write_text(json.dumps([GOOD, NO_ANSWER]) + "x")  # beside it the array's own syntax: a line
    assert validate_file(f).named() == "items and lines"
    f.write_text(json.dumps(NO_ANSWER) + "\n")
    assert validate_file(f).named() == "lines"
