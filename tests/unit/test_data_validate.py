"""The validator: every kind of bad line gives its exact `path:line: message`; the external files."""

from __future__ import annotations

import json

import pytest

from forge.data import DataError, load_conversations
from forge.data.validate import WARNING_KINDS, validate_file, validate_splits

OK = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}


def sg(*turns):
    return {"conversations": [{"from": r, "value": v} for r, v in turns]}


# (raw line bytes, kind, message) for each kind of bad line
BAD_LINES = [
    (
        b'{"conversations": [{"from": "human", "value": "hi"}',
        "bad_json",
        "bad JSON: the line ends early (Expecting ',' delimiter at column 52); was it cut off?",
    ),
    (
        b'{"conversations": [], x}',
        "bad_json",
        "bad JSON at column 23: Expecting property name enclosed in double quotes",
    ),
    (b'{"text": "hi"}', "missing_field", "no 'conversations' (ShareGPT) or 'messages' (OpenAI) field (keys: 'text')"),
    (
        json.dumps(sg(("bot", "hi"), ("gpt", "yo"))).encode(),
        "unknown_role",
        "turn 1: unknown role 'bot' (known: assistant, bing, chatgpt, function_call, gpt, human, model, observation, "
        "system, tool, user)",
    ),
    (json.dumps(sg(("human", " "), ("gpt", "yo"))).encode(), "empty_content", "turn 1 (human): empty 'value'"),
    (
        json.dumps(sg(("human", "hi"))).encode(),
        "no_assistant",
        "no assistant turn (gpt/assistant): there is nothing to learn from",
    ),
    (
        json.dumps(sg(("human", "hi"), ("gpt", "yo"), ("human", "and?"))).encode(),
        "last_not_assistant",
        "the last turn, turn 3 (human), is not the assistant's: end each conversation with an answer",
    ),
    (
        json.dumps(sg(("human", "hi"), ("human", "yo"), ("gpt", "ok"))).encode(),
        "not_alternating",
        "turn 1 (human) and turn 2 (human) are both user-side turns: turns must alternate",
    ),
    (
        json.dumps(sg(("gpt", "hi"), ("human", "yo"), ("gpt", "ok"))).encode(),
        "not_alternating",
        "turn 1 (gpt) comes before any user turn: a conversation starts with the user",
    ),
    (
        json.dumps(sg(("human", "hi"), ("observation", "{}"), ("gpt", "ok"))).encode(),
        "not_alternating",
        "turn 2 (observation) does not follow an assistant/function_call turn",
    ),
    (
        json.dumps(sg(("human", "hi"), ("gpt", "yo"), ("system", "s"), ("human", "a"), ("gpt", "b"))).encode(),
        "misplaced_system",
        "turn 3 (system): a system turn may only come first",
    ),
    (
        '{"conversations": [{"from": "human", "value": "café"}, {"from": "gpt", "value": "yo"}]}'.encode("latin-1"),
        "not_utf8",
        "not valid UTF-8 at byte 139 (column 51, byte 0xe9)",
    ),
    (b"[" * 10000 + b"]" * 10000, "too_deep", "JSON nested too deeply to read"),
    (b"[1, 2]", "not_an_object", "expected a JSON object, got a list"),
    (b'{"conversations": "hi"}', "bad_type", "'conversations' must be a list of turns, got 'hi'"),
    (b'{"conversations": []}', "empty_conversation", "'conversations' is empty"),
    (
        b'{"conversations": [{"role": "user", "content": "hi"}]}',
        "missing_field",
        "turn 1: missing 'from' (this looks like OpenAI 'messages': rename the list to 'messages' or the keys to from/value)",
    ),
    (
        b'{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]}',
        "bad_type",
        "turn 1: 'content' must be a string, got 3",
    ),
    (b'{"instruction": "do it", "input": ""}', "missing_field", "alpaca row without 'output'"),
    (b'{"instruction": "do it", "output": " "}', "empty_content", "alpaca row with empty 'output'"),
    (
        json.dumps(sg(("human", ""), ("gpt", ""), ("human", "q"), ("gpt", ""))).encode(),
        "empty_content",
        "turn 1 (human): empty 'value' (and 2 more)",
    ),
]


@pytest.mark.parametrize(
    ("raw", "kind", "message"), BAD_LINES, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD_LINES)]
)
def test_each_bad_line_has_its_exact_message(tmp_path, raw, kind, message):
    f = tmp_path / "train.jsonl"
    f.write_bytes(json.dumps(OK).encode() + b"\n" + raw + b"\n" + json.dumps(OK).encode() + b"\n")
    r = validate_file(f)
    assert [p.render(f) for p in r.problems] == [f"{f}:2: {message}"]
    assert r.counts == {kind: 1}
    assert (r.rows, r.valid, r.ok) == (3, 2, False)
    assert r.duplicates == 1  # lines 1 and 3


def test_all_bad_lines_in_one_file_counts_cap_and_loader(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_bytes(b"\n".join(raw for raw, _, _ in BAD_LINES) + b"\n" + json.dumps(OK).encode() + b"\n")
    r = validate_file(f, max_listed=5)
    expected: dict[str, int] = {}
    for _, kind, _ in BAD_LINES:
        expected[kind] = expected.get(kind, 0) + 1
    assert r.counts == expected
    assert sum(r.counts.values()) == len(BAD_LINES)  # exact, although only 5 are listed
    assert [p.line for p in r.problems] == [1, 2, 3, 4, 5]
    assert r.rows == len(BAD_LINES) + 1 and r.valid == 1
    text = r.render()
    assert f"... and {len(BAD_LINES) - 5} more (only the first 5 are listed)" in text
    with pytest.raises(DataError) as e:
        load_conversations(f)
    assert f"{f}:1: " in str(e.value) and e.value.report.counts == expected
    assert "not_utf8: save the file as UTF-8" in e.value.fix


def test_blank_lines_and_bom_are_tolerated_warnings(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(OK).encode()
        + b"\n\n   \r\n"
        + json.dumps(sg(("human", "a"), ("gpt", "b"))).encode()
        + b"\n\n"
    )
    r = validate_file(f)
    assert r.ok and r.counts == {} and r.problems == []
    assert r.warnings == {"bom": 1, "blank_line": 3}
    assert [p.render("t.jsonl") for p in r.warning_lines] == [
        "t.jsonl:1: UTF-8 byte-order mark (BOM) (tolerated)",
        "t.jsonl:2: blank line (skipped)",
        "t.jsonl:3: blank line (skipped)",
        "t.jsonl:5: blank line (skipped)",
    ]
    assert set(r.warnings) <= set(WARNING_KINDS)
    assert (r.rows, r.valid) == (2, 2)
    assert len(load_conversations(f)) == 2


def test_line_separators_inside_strings_do_not_split_lines(tmp_path):
    f = tmp_path / "train.jsonl"
    row = sg(("human", "a\u2028b\x85c\u2029"), ("gpt", "ok"))
    f.write_text(json.dumps(row, ensure_ascii=False) + "\n" + json.dumps(OK) + "\n", encoding="utf-8")
    r = validate_file(f)
    assert r.ok and r.rows == 2


def test_missing_empty_folder_and_utf16(tmp_path):
    assert not validate_file(tmp_path / "nope.jsonl").exists
    (tmp_path / "e.jsonl").write_text("")
    assert validate_file(tmp_path / "e.jsonl").fatal == "no records: the file is empty"
    assert validate_file(tmp_path).fatal == "is a folder, not a file"
    (tmp_path / "u.jsonl").write_text(json.dumps(OK) + "\n", encoding="utf-16")
    r = validate_file(tmp_path / "u.jsonl")
    assert r.fatal == "the file is UTF-16/UTF-32, not UTF-8: save it as UTF-8" and not r.ok


def test_line_too_long_is_skipped_without_reading_it(tmp_path):
    from forge.data.validate import scan

    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps(sg(("human", "x" * 5000), ("gpt", "y"))) + "\n" + json.dumps(OK) + "\n")
    r, _, _ = scan(f, max_record_bytes=1000)
    assert [p.render("t") for p in r.problems] == ["t:1: line longer than 1000 bytes: not read"]
    assert (r.rows, r.valid) == (2, 1)


# JSON arrays -------------------------------------------------------------------------------------


def test_json_array_reports_the_line_each_item_starts_on(tmp_path):
    rows = [OK, sg(("human", "hi")), OK, {"text": 1}]
    f = tmp_path / "train.json"
    f.write_text(json.dumps(rows, indent=2))
    # each OK item is 12 lines long, the bad one 8, so items start on lines 2, 14, 22, 34
    r = validate_file(f)
    assert r.layout == "array"
    assert [p.render("t") for p in r.problems] == [
        "t:14: item 2: no assistant turn (gpt/assistant): there is nothing to learn from",
        "t:34: item 4: no 'conversations' (ShareGPT) or 'messages' (OpenAI) field (keys: 'text')",
    ]
    assert r.duplicate_lines == [[22, 2]]


def test_json_array_line_numbers_survive_a_tiny_window(tmp_path):
    from forge.data.reader import RecordReader

    rows = [sg(("human", f"q{i}\u00e9"), ("gpt", "a" * (i % 50))) for i in range(200)]
    f = tmp_path / "train.json"
    f.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    lines = f.read_text(encoding="utf-8").splitlines()
    starts = [i + 1 for i, ln in enumerate(lines) if ln == " {"]
    items = list(RecordReader(f, chunk=7))
    assert [it.line for it in items] == starts
    assert [it.value for it in items] == rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[\n{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt" "value": "x"}]}\n]',
            [
                "t:2: item 1: bad JSON at column 69: Expecting ',' delimiter; reading stopped here "
                "(a JSON array cannot be read past a syntax error)"
            ],
        ),
        (
            "[\n" + json.dumps(OK) + ",\n" + json.dumps(OK)[:30],
            ["t:3: item 2: the file ends inside this item: was it cut off?"],
        ),
        ("[\n" + json.dumps(OK) + ",\n]", ["t:3: trailing comma before the closing ']'"]),
        ("[\n" + json.dumps(OK) + "\n]\nxyz", ["t:4: extra data after the closing ']' of the JSON array"]),
        ("[\n" + json.dumps(OK) + "\n", ["t:3: the JSON array is not closed: ']' is missing at the end of the file"]),
        ("[\n" + json.dumps(OK) + " x ]", ["t:2: expected ',' or ']' after the item, found 'x'; reading stopped here"]),
    ],
)
def test_json_array_syntax_errors(tmp_path, text, expected):
    f = tmp_path / "train.json"
    f.write_text(text)
    r = validate_file(f)
    assert [p.render("t") for p in r.problems] == expected
    assert r.counts == {"bad_json": 1} and not r.ok


def test_json_array_bom_non_utf8_and_deep_items(tmp_path):
    f = tmp_path / "train.json"
    bad = json.dumps(sg(("human", "caf\u00e9"), ("gpt", "x")), ensure_ascii=False).encode("latin-1")
    f.write_bytes(
        b"\xef\xbb\xbf[\n" + bad + b",\n" + b"[" * 5000 + b"]" * 5000 + b",\n" + json.dumps(OK).encode() + b"]"
    )
    r = validate_file(f)
    assert [p.render("t") for p in r.problems] == [
        "t:2: item 1: not valid UTF-8 at byte 55 (line 2, byte 0xe9)",
        "t:3: item 2: JSON nested too deeply to read",
    ]
    assert r.warnings == {"bom": 1}
    assert (r.rows, r.valid, r.complete) == (3, 1, True)


# formats and conversions -------------------------------------------------------------------------


def test_openai_messages_tools_and_parts(tmp_path):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f"}}]},
                {"role": "tool", "content": "r"},
                {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
            ]
        },
        {
            "messages": [
                {"role": "developer", "content": "s"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ],
            "tools": [{"name": "f"}],
        },
    ]
    f = tmp_path / "train.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = validate_file(f)
    assert r.ok and r.format == "messages"
    assert r.conversions == {
        "tool_calls -> assistant text": 1,
        "tool turn -> tool": 1,
        "content parts -> text": 1,
        "tools field -> system prompt": 1,
    }
    convs = load_conversations(f)
    # the call in ShareGPT/glaive's form (tests/unit/test_tool_calls_and_roles.py has the rule)
    assert convs[0][2] == {"role": "assistant", "content": '{"name": "f", "arguments": {}}'}
    assert convs[0][3]["role"] == "tool"
    assert convs[1][0] == {"role": "system", "content": 's\n\nYou have access to the following tools:\n[{"name": "f"}]'}


def test_glaive_toolcall_external_file(external_dir):
    f = external_dir / "glaive_toolcall_en_demo.json"
    r = validate_file(f)
    assert r.ok, r.render()
    assert (r.layout, r.format, r.rows, r.valid, r.duplicates) == ("array", "sharegpt", 300, 300, 35)
    assert r.conversions == {
        "function_call turn -> assistant": 211,
        "observation turn -> tool": 211,
        "tools field -> system prompt": 191,
        "empty tools field -> dropped": 109,
    }
    assert r.duplicate_lines[0] == [216, 174]
    convs = load_conversations(f)
    assert len(convs) == 300
    first = convs[0]
    assert first[0]["role"] == "system" and first[0]["content"].startswith("You have access to the following tools:\n[")
    assert [m["role"] for m in first[1:7]] == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert json.loads(first[4]["content"])["name"] == "search_recipes"


def test_alpaca_external_file(external_dir):
    f = external_dir / "alpaca_en_demo.json"
    r = validate_file(f)
    assert r.ok, r.render()
    assert (r.layout, r.format, r.rows, r.valid, r.duplicates) == ("array", "alpaca", 999, 999, 14)
    assert r.conversions == {"alpaca row -> user/assistant": 999}
    raw = json.loads(f.read_text(encoding="utf-8"))
    assert len(raw) - len({json.dumps(x, sort_keys=True) for x in raw}) == 14
    convs = load_conversations(f)
    with_input = next(i for i, x in enumerate(raw) if x["input"].strip())
    assert (
        convs[with_input][0]["content"]
        == raw[with_input]["instruction"].strip() + "\n\n" + raw[with_input]["input"].strip()
    )
    assert convs[with_input][1] == {"role": "assistant", "content": raw[with_input]["output"]}


def test_alpaca_system_and_history(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(
        json.dumps({"system": "be brief", "instruction": "i", "input": "x", "output": "o", "history": [["h1", "a1"]]})
        + "\n"
    )
    r = validate_file(f)
    assert r.conversions == {
        "alpaca history -> turns": 1,
        "alpaca row -> user/assistant": 1,
        "system field -> system turn": 1,
    }
    assert load_conversations(f) == [
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "h1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "i\n\nx"},
            {"role": "assistant", "content": "o"},
        ]
    ]


# duplicates and leakage -------------------------------------------------------------------------


def test_duplicates_and_leakage_use_the_normalised_conversation(tmp_path):
    a = sg(("human", "q1"), ("gpt", "a1"))
    b = {"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]}  # same as a
    c = sg(("human", "q2"), ("gpt", "a2"))
    d = sg(("human", "q3"), ("gpt", "a3"))
    train = tmp_path / "train.jsonl"
    val = tmp_path / "val.jsonl"
    train.write_text("".join(json.dumps(x) + "\n" for x in [a, c, b, c, a]))
    val.write_text("".join(json.dumps(x) + "\n" for x in [d, b, c, c]))
    tr, va = validate_splits(train, val)
    assert tr.format == "mixed" and tr.formats == {"sharegpt": 4, "messages": 1}
    assert (tr.duplicates, tr.duplicate_lines) == (3, [[3, 1], [4, 2], [5, 1]])
    assert (va.leaked, va.leaked_lines) == (3, [[2, 1], [3, 2], [4, 2]])
    assert va.duplicates == 1
    assert validate_splits(train, None)[1] is None


def test_pure_python_hash_index_agrees_with_numpy(tmp_path):
    from forge.data.hashes import Hashes, NumpyHashes

    plain, fast, other_p, other_f = Hashes(), NumpyHashes(), Hashes(), NumpyHashes()
    for i in range(300):
        m = [{"role": "user", "content": str(i % 37)}, {"role": "assistant", "content": "a"}]
        plain.add(m, i + 1)
        fast.add(m, i + 1)
        if i % 5 == 0:
            m2 = [{"role": "user", "content": str(i % 50)}, {"role": "assistant", "content": "a"}]
            other_p.add(m2, i)
            other_f.add(m2, i)
    assert plain.duplicates(1000) == fast.duplicates(1000)
    assert other_p.leaked_from(plain, 1000) == other_f.leaked_from(fast, 1000)


def test_report_to_dict_names_fixes(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps(OK) + "\n\n{bad\n")
    d = validate_file(f).to_dict()
    assert d["ok"] is False and d["counts"] == {"bad_json": 1} and d["warnings"] == {"blank_line": 1}
    assert set(d["fixes"]) == {"bad_json", "blank_line"}
    json.dumps(d)
