"""Fuzzing the data reader (issue 10): random bytes, random JSON, deep nesting, huge lines.

Whatever the file holds, validate_file returns a report (never an exception), its counts are
consistent, and load_conversations either returns or raises DataError. The number of inputs fuzzed
is printed (run with -s to see it).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forge.data import DataError, load_conversations
from forge.data.validate import WARNING_KINDS, DataReport, scan

FUZZED = {"n": 0}
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
FEWER = settings(SETTINGS, max_examples=60)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=20,
)
roles = st.sampled_from(
    ["human", "gpt", "system", "user", "assistant", "function_call", "observation", "tool", "bot", 3]
)
turn = st.fixed_dictionaries({}, optional={"from": roles, "value": st.text(max_size=8) | json_values, "role": roles})
records = st.one_of(
    json_values,
    st.builds(lambda t: {"conversations": t}, st.lists(turn, max_size=5)),
    st.builds(lambda t: {"messages": t}, st.lists(turn, max_size=5)),
    st.fixed_dictionaries({}, optional={"instruction": json_values, "input": json_values, "output": json_values}),
)


def check(data: bytes, name: str = "train.jsonl") -> DataReport:
    FUZZED["n"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / name
        f.write_bytes(data)  # a fresh folder per input: cheap next to hypothesis' own work
        r, _, _ = scan(f, max_listed=5, max_record_bytes=1 << 20)
        assert isinstance(r, DataReport)
        assert r.valid <= r.rows
        assert all(k not in WARNING_KINDS for k in r.counts) and all(k in WARNING_KINDS for k in r.warnings)
        assert len(r.problems) == min(5, sum(r.counts.values()))
        for p in r.problems + r.warning_lines:
            assert p.line >= 1 and p.render(f).startswith(f"{f}:{p.line}: ")
        json.dumps(r.to_dict())
        assert r.render() and r.summary()
        if r.ok:
            assert len(load_conversations(f)) == r.valid
        else:
            try:
                load_conversations(f)
            except DataError:
                pass
            else:
                raise AssertionError("a report that is not ok must make load_conversations raise")
        return r


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes(data):
    check(data)
    check(b"[" + data, "train.json")


@FEWER
@given(st.lists(records, max_size=6), st.booleans(), st.booleans())
def test_random_json_records(rows, as_array, bom):
    if as_array:
        data = json.dumps(rows, indent=1).encode()
    else:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    r = check((b"\xef\xbb\xbf" if bom else b"") + data, "train.json")
    if as_array or not (rows and isinstance(rows[0], list)):  # JSONL starting with a list reads as an array
        assert r.rows == len(rows)
    if bom and rows:
        assert r.warnings.get("bom") == 1


@FEWER
@given(st.lists(records, min_size=1, max_size=5), st.data())
def test_random_json_with_byte_damage(rows, data):
    raw = bytearray(
        json.dumps(rows, indent=1).encode()
        if data.draw(st.booleans())
        else b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    )
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    check(bytes(raw), "train.json")


def test_deep_nesting_and_huge_lines():
    ok = json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}).encode()
    deep = [b"[" * 10000 + b"]" * 10000, b"{" + b'"a":{' * 10000 + b"1" + b"}" * 10001, b"[" * 100000]
    for d in deep:
        r = check(ok + b"\n" + d + b"\n" + ok + b"\n")
        assert r.counts in ({"too_deep": 1}, {"bad_json": 1}) and r.valid == 2
        r = check(b"[" + ok + b",\n" + d + b",\n" + ok + b"]", "train.json")
        assert r.counts and r.valid >= 1
    huge = b'{"conversations": [{"from": "human", "value": "' + b"x" * (3 << 20) + b'"}]}'
    r = check(ok + b"\n" + huge + b"\n" + ok + b"\n")
    assert r.counts == {"line_too_long": 1} and r.valid == 2
    r = check(b"[" + ok + b",\n" + huge + b",\n" + ok + b"]", "train.json")
    assert r.counts == {"line_too_long": 1} and not r.complete
    r = check(b"\n" * 100000)
    assert r.warnings == {"blank_line": 100000} and r.fatal


def test_zz_report_fuzz_count():
    # runs last in this file (alphabetical order within the module is definition order): print the total
    print(f"\ndata reader fuzz: {FUZZED['n']} inputs fuzzed, every one answered with a report")
    assert FUZZED["n"] > 0
