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
