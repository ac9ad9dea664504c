"""A damaged metrics/ or .factory/ record is refused with its file (and line, for bad JSON) in the
--json answer, never with a traceback. Before: a baseline.json in latin-1 (a byte that is not
UTF-8) went up as a UnicodeDecodeError traceback; a BOM made a valid file "not valid JSON"; the
`--json` error of a missing or torn baseline.json had no `file` key although it named one."""

import json

import pytest

from forge.cli import main
from forge.commands.console import error_document
from forge.errors import ForgeError
from forge.evaluate.baseline import read_baseline
from forge.project import Project
from forge.records.base import RecordError, read_record
from forge.records.evaluate import BaselineRecord


@pytest.fixture
def proj(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    return Project.at(tmp_path)


@pytest.mark.parametrize(
    ("content", "line", "says"),
    [
        (b'{"model": "caf\xe9"}', None, "not UTF-8 (byte 0xe9 at offset 14)"),
        (b'{"model":\n 1,,}', 2, "not valid JSON"),
        (b"[]", None, "not a JSON object"),
    ],
)
def test_evaluate_names_the_damaged_baseline(proj, content, line, says):
    proj.baseline_file.write_bytes(content)
    with pytest.raises(ForgeError) as e:
        read_baseline(proj)  # what evaluate, and its --json error answer, say
    doc = error_document(e.value)
    assert doc["kind"] == "record" and doc["exit_code"] == 1 and says in doc["error"]
    assert doc["file"] == str(proj.baseline_file) and doc.get("line") == line


def test_a_missing_baseline_names_its_file(proj):
    with pytest.raises(ForgeError) as e:
        read_baseline(proj)
    doc = error_document(e.value)
    assert doc["kind"] == "baseline_missing" and doc["file"] == str(proj.baseline_file)


def test_a_record_with_a_bom_reads(tmp_path):
    f = tmp_path / "baseline.json"
    record = BaselineRecord(model="m", val_sha256="0", val_loss=1.5)
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(record.to_data()).encode())
    assert read_record(f, BaselineRecord) == record


def test_read_record_errors_carry_the_file(tmp_path):
    f = tmp_path / "baseline.json"
    f.write_text('{"schema_version": 99}')
    with pytest.raises(RecordError) as e:
        read_record(f, BaselineRecord)
    assert e.value.file == str(f) and "newer forge" in e.value.message
