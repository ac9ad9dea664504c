"""`forge export --evaluate` leaves a k-quant's greedy-decoding disagreement to the artifact gate
(forge.export.steps_gguf._defer_to_gate): the file is kept, the check stays failed in the report,
and only that check of a k-quant is deferred; without --evaluate it still fails the export."""

from __future__ import annotations

from types import SimpleNamespace

from forge.export.steps_gguf import GREEDY_CHECK, _defer_to_gate
from forge.export.steps_model import ExportVerificationError
from forge.records.export import ExportReport


def _greedy(ok: bool) -> dict:
    return {"name": GREEDY_CHECK, "ok": ok, "detail": "top-1 agreement 56.2% (56.2% of 48 decisive positions)"}


def test_with_evaluate_a_k_quant_disagreement_is_kept_for_the_gate_and_stays_failed():
    c = _defer_to_gate(SimpleNamespace(gate_after=True), "q4_k_m", _greedy(False))
    assert c["ok"] is False and c["deferred"] == "artifact gate" and "kept for the artifact gate" in c["detail"]
    report = ExportReport(checks=[c, {"name": "GGUF tensors vs merged weights", "ok": True, "detail": ""}])
    assert report.failed_checks == []  # the export keeps the file; the gate judges it


def test_without_evaluate_or_for_other_checks_and_types_nothing_is_deferred():
    assert "deferred" not in _defer_to_gate(SimpleNamespace(gate_after=False), "q4_k_m", _greedy(False))
    assert "deferred" not in _defer_to_gate(SimpleNamespace(gate_after=True), "q8_0", _greedy(False))
    assert "deferred" not in _defer_to_gate(SimpleNamespace(gate_after=True), "q4_k_m", _greedy(True))
    tensors = {"name": "GGUF tensors vs merged weights", "ok": False, "detail": "relative RMS 0.4"}
    assert "deferred" not in _defer_to_gate(SimpleNamespace(gate_after=True), "q4_k_m", tensors)
    report = ExportReport(checks=[_greedy(False)])
    assert len(report.failed_checks) == 1
    e = ExportVerificationError(report)
    assert "--evaluate" in e.fix and "--gguf q8_0" in e.fix and "re-train" not in e.fix
    report = ExportReport(checks=[_greedy(False), tensors])
    assert "re-train" in ExportVerificationError(report).fix  # a broken file is not a quality question
