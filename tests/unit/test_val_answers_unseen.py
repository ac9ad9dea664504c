"""Val answers found word for word in train are reported, and the headline sample is right or says it is wrong.

Issue 28 (5): 22 of the 24 val answers of the built-in `support` example occurred word for word in
train; the leakage check compares whole conversations, so it stayed silent; the demo printed the
first sample, right or not, as its headline.
"""

from __future__ import annotations

import json

from evaluate_files import scores, write_metrics
from forge.cli import main
from forge.commands.evaluate import print_evaluation
from forge.data.validate import validate_splits
from forge.evaluate.evaluation import build_evaluation
from forge.records.evaluate import Sample, headline_sample


def _row(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_check_warns_with_counts_and_lines(project, capsys):
    train = [_row(f"q{i}?", f"answer {i}.") for i in range(120)]
    val = [_row("new question?", "answer 7."), _row("other?", "fresh."), _row("third?", "  answer 99.  ")]
    _write(project.train_file, train)
    _write(project.val_file, val)
    t, v = validate_splits(project.train_file, project.val_file)
    assert v.leaked == 0  # no whole conversation is shared: the old check saw nothing
    assert (v.answers_in_train, v.answers_in_train_count, v.answers_in_train_lines) == (2, 2, [[1, 8], [3, 100]])
    rc = main(["check", str(project.root), "--json", "--set", "model.name=builtin:tiny-llama"])
    out = json.loads(capsys.readouterr().out)
    item = next(i for i in out["sections"]["Data Ready"] if i["name"] == "val answers unseen in train")
    assert item["status"] == "warn" and rc == 0  # a warning: canned answers may repeat on purpose
    assert item["detail"].startswith("2 of 3 val conversations have an answer found word for word in train")
    assert "data/splits/val.jsonl:1 = data/splits/train.jsonl:8" in item["detail"]
    assert out["data"]["val"]["answers_in_train"] == 2


def test_tool_calls_compare_in_canonical_form(tmp_path):
    call_a = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    call_b = '{"arguments":{"city":"Paris"},"name":"get_weather"}'
    _write(tmp_path / "t.jsonl", [_row("weather?", call_a)])
    _write(tmp_path / "v.jsonl", [_row("and the weather?", call_b)])
    _, v = validate_splits(tmp_path / "t.jsonl", tmp_path / "v.jsonl")
    assert v.answers_in_train == 1


def _sample(i, exact, f1):
    return Sample(index=i, prompt=f"q{i}", reference=f"ref {i}", generated=f"gen {i}", token_f1=f1, exact_match=exact)


def test_the_headline_sample_is_a_right_one_or_says_it_is_wrong():
    wrong, right = _sample(0, 0.0, 0.4), _sample(1, 1.0, 1.0)
    s, label = headline_sample([wrong, right])
    assert s is right and label.startswith("right: exact match (1 of 2")
    s, label = headline_sample([wrong, _sample(2, 0.0, 0.8)])
    assert s.index == 2 and label.startswith("wrong: token F1 0.80")
    assert headline_sample([]) == (None, "")


def test_evaluate_prints_the_right_sample_first(project, capsys):
    baseline, _ = write_metrics(project, tuned=None)
    detail = scores(0.7, 2.0, 0.9, 0.5)
    detail.samples = [_sample(0, 0.0, 0.3), _sample(1, 1.0, 1.0)]
    record = build_evaluation(baseline, detail, 0.05)
    print_evaluation(project, record)
    out = " ".join(capsys.readouterr().out.split())
    assert "sample (right: exact match (1 of 2 sampled answers exact)) q1" in out and "q0" not in out


def test_duplicates_and_leakage_name_their_first_lines(project, capsys):
    """A warning that a split repeats itself or leaks into val names where: the file and line of
    the copy and of the first one (alpaca rows here; the count stays exact past the lines shown)."""
    alpaca = [{"instruction": f"q{i}?", "input": "", "output": f"answer {i}."} for i in range(120)]
    train = [*alpaca[:40], alpaca[3], *alpaca[40:], alpaca[3], alpaca[10]]
    _write(project.train_file, train)
    _write(project.val_file, [{"instruction": "new?", "input": "", "output": "fresh."}, alpaca[50]])
    rc = main(["check", str(project.root), "--json", "--set", "model.name=builtin:tiny-llama"])
    out = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for i in out["sections"]["Data Ready"]}
    dup, leak = items["no duplicates"], items["no train/val leakage"]
    assert rc == 0 and dup["status"] == leak["status"] == "warn"
    assert dup["detail"] == (
        "3 duplicate(s) in train (first: data/splits/train.jsonl:41 repeats data/splits/train.jsonl:4, "
        "data/splits/train.jsonl:122 repeats data/splits/train.jsonl:4, "
        "data/splits/train.jsonl:123 repeats data/splits/train.jsonl:11)"
    )
    assert "data/splits/train.jsonl" in dup["fix"]
    assert leak["detail"] == "1 val row(s) also in train (first: data/splits/val.jsonl:2 = data/splits/train.jsonl:52)"
