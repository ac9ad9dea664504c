"""The pieces of `forge evaluate --artifact` that need no model: names, the per-artifact gate, template
parity's first difference, tool-call scores, the record's schema 2 (and version 1 still read), and
the refusal of an artifact not made from the adapter there now (before anything is scored)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from model_folders import write_adapter

from evaluate_files import scores, stand_in_scoring, write_metrics
from forge.errors import ForgeError
from forge.evaluate.artifact_gate import MAX_GAIN_LOST, artifact_row, gain_lost
from forge.evaluate.artifacts import parse_artifact
from forge.evaluate.parity import compare, first_difference
from forge.evaluate.toolcalls import score_call, tool_call_scores
from forge.records.base import read_record
from forge.records.evaluate import EvaluationRecord
from forge.records.evaluate_artifacts import TemplateParity

BASE = {"val_loss": 2.0, "perplexity": 7.39, "token_f1": 0.2, "exact_match": 0.0}
ADAPTER = {"val_loss": 1.0, "perplexity": 2.72, "token_f1": 0.6, "exact_match": 0.5}


def test_artifact_names():
    assert parse_artifact(None) == ["adapter"]
    assert parse_artifact("GGUF:Q4_K_M") == ["gguf:q4_k_m"]
    assert parse_artifact("all") == ["all"] and parse_artifact("merged") == ["merged"]
    for bad in ("gguf", "gguf:q9", "lora"):
        with pytest.raises(ForgeError) as e:
            parse_artifact(bad)
        assert e.value.exit_code == 2
    # forge chat talks to one artifact: `all` and several types are refused, and the fix offers
    # only what it takes (evaluate's offers `all`)
    assert "or all" in pytest.raises(ForgeError, parse_artifact, "lora").value.fix
    for bad in ("all", "gguf:q8_0,q4_k_m", "lora"):
        with pytest.raises(ForgeError) as e:
            parse_artifact(bad, one=True)
        assert e.value.exit_code == 2 and "all" not in e.value.fix and "gguf:TYPE" in e.value.fix
    assert parse_artifact("gguf:Q8_0", one=True) == ["gguf:q8_0"]


def test_bad_artifact_name_is_a_usage_error_before_anything_loads(project):
    r = subprocess.run(
        [sys.executable, "-m", "forge", "evaluate", str(project.root), "--artifact", "gguf:q9_9", "--json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr
    assert json.loads(r.stdout)["kind"] == "usage"


def test_quantization_that_loses_the_gain_names_the_type_the_share_and_what_to_try():
    lost = {"val_loss": 1.9, "perplexity": 6.7, "token_f1": 0.6, "exact_match": 0.5}
    row = artifact_row(
        name="gguf:q4_k_m",
        kind="gguf",
        path="models/quantized/m-Q4_K_M.gguf",
        gguf_type="q4_k_m",
        scores=lost,
        baseline=BASE,
        adapter=ADAPTER,
        adapter_passed=True,
        threshold=0.1,
        parity=TemplateParity(ok=True, source="GGUF metadata", prompts=2, detail="2 prompts render alike"),
    )
    assert row.verdict == "fail" and row.suggestion == "gguf:q8_0"
    assert row.gain_lost == pytest.approx(0.9)
    assert "GGUF Q4_K_M fails the gate the adapter passes" in row.reasons[0]
    assert "90% of the fine-tuning gain lost" in row.reasons[0] and "try Q8_0 instead of Q4_K_M" in row.reasons[0]


def test_artifact_losing_most_of_the_gain_fails_though_it_beats_the_baseline():
    # Gemma 3 270M's Q4_K_M (docs/demo.md): 40% better than the base model, 56% of the gain lost
    base, adapter = {**BASE, "val_loss": 3.6108}, {**ADAPTER, "val_loss": 0.3714}
    common = dict(kind="gguf", path=None, baseline=base, adapter=adapter, threshold=0.05, parity=None)
    q4 = {**ADAPTER, "val_loss": 2.1718}
    row = artifact_row(name="gguf:q4_k_m", gguf_type="q4_k_m", scores=q4, adapter_passed=True, **common)
    assert row.relative_improvement == pytest.approx(0.3985, abs=1e-3)  # the threshold alone passes it
    assert row.verdict == "fail" and row.suggestion == "gguf:q8_0" and row.gain_lost > MAX_GAIN_LOST
    assert "GGUF Q4_K_M fails the gate the adapter passes" in row.reasons[0]
    assert "56% of the fine-tuning gain lost (at most 50% may be" in row.reasons[0]
    assert "try Q8_0 instead of Q4_K_M" in row.reasons[0]
    # just under the limit passes, and says how much was lost
    half = {**ADAPTER, "val_loss": 0.3714 + 0.49 * (3.6108 - 0.3714)}
    ok = artifact_row(name="gguf:q4_k_m", gguf_type="q4_k_m", scores=half, adapter_passed=True, **common)
    assert ok.passed and any("49.0% of the fine-tuning gain lost" in c for c in ok.checks)
    # the adapter's own row never has the limit applied (it is what the gain is measured from)
    same = artifact_row(
        name="adapter", gguf_type=None, scores=adapter, adapter_passed=True, **{**common, "kind": "adapter"}
    )
    assert same.passed and same.gain_lost == 0.0


def test_artifact_keeping_the_gain_passes_and_parity_failure_fails_it():
    kept = {"val_loss": 1.01, "perplexity": 2.75, "token_f1": 0.6, "exact_match": 0.5}
    common = dict(kind="gguf", path=None, gguf_type="q8_0", scores=kept, baseline=BASE, adapter=ADAPTER)
    ok = artifact_row(name="gguf:q8_0", adapter_passed=True, threshold=0.1, parity=None, **common)
    assert ok.passed and ok.gain_lost == pytest.approx(0.01) and ok.suggestion is None
    bad = TemplateParity(ok=False, source="GGUF metadata", prompts=2, detail="differs at character 5")
    failed = artifact_row(name="gguf:q8_0", adapter_passed=True, threshold=0.1, parity=bad, **common)
    assert not failed.passed and failed.suggestion is None  # not a quantization problem: no finer type helps
    assert any("template parity" in r for r in failed.reasons)
    assert gain_lost(2.0, 2.0, 1.0) is None  # no gain to lose


def test_parity_shows_the_first_differing_characters():
    assert first_difference("abc", "abc") is None and first_difference("abc", "abd") == 2
    assert first_difference("ab", "abc") == 2
    items = [("val.jsonl:1", [{"role": "user", "content": "hi"}], "<s>user: hi\nassistant:")]
    same = compare("t", items, lambda m: "<s>user: hi\nassistant:")
    assert same.ok and same.prompts == 1
    differs = compare("t", items, lambda m: "<s>User: hi\nassistant:")
    assert not differs.ok and "val.jsonl:1" in differs.detail and "character 3" in differs.detail
    assert "'<s>user: hi" in differs.detail and "'<s>User: hi" in differs.detail
    raises = compare("t", items, lambda m: (_ for _ in ()).throw(ValueError("no system role")))
    assert not raises.ok and "no system role" in raises.detail


def test_tool_call_scores():
    ref = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}'
    assert score_call('{"arguments": {"days": 2, "city": "Paris"}, "name": "get_weather"}', ref) == {
        "valid_json": 1.0,
        "name_match": 1.0,
        "arguments_match": 1.0,
    }
    assert score_call('```json\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n```', ref) == {
        "valid_json": 1.0,
        "name_match": 1.0,
        "arguments_match": 0.0,
    }
    assert score_call('{"name": "get_weather", "arguments": {', ref)["valid_json"] == 0.0
    assert score_call("It is sunny.", ref) == {"valid_json": 0.0, "name_match": 0.0, "arguments_match": 0.0}
    assert score_call("anything", "Plain answer.") is None  # not a tool-call sample
    samples = [
        {"generated": ref, "reference": ref},
        {"generated": '{"name": "other", "arguments": {}}', "reference": ref},
        {"generated": "hello", "reference": "hello"},
    ]
    assert tool_call_scores(samples) == {"samples": 2, "valid_json": 1.0, "name_match": 0.5, "arguments_match": 0.5}
    assert samples[1]["tool_call"]["name_match"] == 0.0 and "tool_call" not in samples[2]


def test_version_1_evaluation_reads_with_the_adapter_as_its_row(project):
    _, ev = write_metrics(project)
    data = json.loads(project.evaluation_file.read_text())
    data["schema_version"] = 1
    data.pop("artifacts", None)
    project.evaluation_file.write_text(json.dumps(data))
    old = read_record(project.evaluation_file, EvaluationRecord)
    assert old.schema_version == 2
    rows = old.rows()
    assert [r.artifact for r in rows] == ["adapter"] and rows[0].scores["val_loss"] == 0.71
    assert all(line["artifacts"] == {} for line in old.comparison())


def test_evaluate_writes_schema_2_with_an_adapter_row(project, monkeypatch):
    stand_in_scoring(monkeypatch, scores(2.0, 7.39, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0))
    _tiny_llama(project)
    from forge.evaluate.baseline import compute_baseline
    from forge.evaluate.evaluation import compute_evaluation

    compute_baseline(project)
    record = compute_evaluation(project, threshold=0.1)
    data = json.loads(project.evaluation_file.read_text())
    assert data["schema_version"] == 2 and [r["artifact"] for r in data["artifacts"]] == ["adapter"]
    assert data["artifacts"][0]["verdict"] == "pass" and data["artifacts"][0]["adapter_sha256"]
    assert record.passed


def test_merged_folder_without_the_export_mark_is_refused_before_scoring(project, monkeypatch):
    stand_in_scoring(monkeypatch, scores(2.0, 7.39, 0.2, 0.0))  # only the baseline: evaluate must not score
    _tiny_llama(project)
    from forge.evaluate.baseline import compute_baseline
    from forge.evaluate.evaluation import compute_evaluation

    compute_baseline(project)
    merged = project.root / "models" / "checkpoints" / "merged"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}")
    with pytest.raises(ForgeError) as e:
        compute_evaluation(project, threshold=0.1, artifacts=["merged"])
    assert e.value.exit_code == 1 and e.value.kind == "artifact_provenance"
    assert "carries no forge export mark" in e.value.message and not project.evaluation_file.exists()
    (merged / "forge-provenance.json").write_text(json.dumps({"adapter_sha256": "0" * 64}))
    with pytest.raises(ForgeError) as e:
        compute_evaluation(project, threshold=0.1, artifacts=["merged"])
    assert "was made from adapter 000000000000" in e.value.message


def test_missing_gguf_names_the_export_to_run(project, monkeypatch):
    stand_in_scoring(monkeypatch, scores(2.0, 7.39, 0.2, 0.0))
    _tiny_llama(project)
    from forge.evaluate.baseline import compute_baseline
    from forge.evaluate.evaluation import compute_evaluation

    compute_baseline(project)
    with pytest.raises(ForgeError) as e:
        compute_evaluation(project, threshold=0.1, artifacts=["gguf:q4_k_m"])
    assert e.value.kind == "artifact_missing" and "forge export --gguf q4_k_m" in e.value.fix


def _tiny_llama(project) -> None:
    cfg = json.loads(project.config_file.read_text())
    cfg["model"]["name"] = "builtin:tiny-llama"
    project.config_file.write_text(json.dumps(cfg))
    write_adapter(project.lora_dir, "builtin:tiny-llama")


def test_tool_call_scores_join_the_comparison_beside_token_f1(project, monkeypatch):
    calls = {"samples": 2, "valid_json": 1.0, "name_match": 0.5, "arguments_match": 0.5}
    base, tuned = scores(2.0, 7.39, 0.2, 0.0), scores(1.5, 4.48, 0.3, 0.0)
    base.tool_calls = {"samples": 2, "valid_json": 0.0, "name_match": 0.0, "arguments_match": 0.0}
    tuned.tool_calls = calls
    stand_in_scoring(monkeypatch, base, tuned)
    _tiny_llama(project)
    from forge.evaluate.baseline import compute_baseline
    from forge.evaluate.evaluation import compute_evaluation

    compute_baseline(project)
    compute_evaluation(project, threshold=0.1)
    record = read_record(project.evaluation_file, EvaluationRecord)
    by = {line["metric"]: line for line in record.comparison()}
    assert by["tool_calls.name_match"]["evaluation"] == 0.5 and by["tool_calls.name_match"]["baseline"] == 0.0
    assert by["tool_calls.valid_json"]["delta"] == 1.0
    assert record.artifacts[0].tool_calls == calls
