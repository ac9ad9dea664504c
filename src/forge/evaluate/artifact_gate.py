"""Each artifact's own gate (pure): the adapter's threshold, the adapter's tolerance, plus template parity
and a limit on the share of the fine-tuning gain lost.

An artifact passes when its scores pass forge.evaluate.gate.apply_gate against the baseline (the
same rule and threshold as the adapter), its template renders as training's did, and, where the
adapter passes, it keeps at least half of the adapter's val-loss gain (MAX_GAIN_LOST). Where it
fails while the adapter passes, the reason says what shipping it costs: the share of the adapter's
val-loss gain it lost, and, for a quantization, the finer type to export instead.
"""

from __future__ import annotations

from typing import Any

from forge.evaluate.gate import GENERATION_TOLERANCE, apply_gate
from forge.records.evaluate_artifacts import ArtifactRow, TemplateParity

# the finer type to try where a GGUF type loses the gain: the 8-bit one for every k-quant (the issue
# field reports show q8_0 keeping what q4_k_m loses), 16 bits for q8_0 itself
FINER = {
    "q2_k": "q8_0",
    "q3_k_m": "q8_0",
    "q4_k_s": "q8_0",
    "q4_k_m": "q8_0",
    "q5_k_s": "q8_0",
    "q5_k_m": "q8_0",
    "q6_k": "q8_0",
    "q8_0": "f16",
}


# The most of the adapter's val-loss gain (baseline - adapter) an artifact may lose. The threshold
# alone is relative to the baseline, so a file that undoes most of the training still passed it:
# Gemma 3 270M's Q4_K_M (docs/demo.md) is 44% better than the base model, against a 5% gate, while
# losing 54% of what fine-tuning gained (token F1 0.84 -> 0.21, the base model's 0.19). An artifact that keeps
# less than half of the gain is not the model that was trained; Q8_0 and 16-bit files lose ~0%.
MAX_GAIN_LOST = 0.5


def gain_lost(base_loss: Any, adapter_loss: Any, loss: Any) -> float | None:
    """(loss - adapter) / (baseline - adapter): 0 keeps the whole gain, 1 loses all of it."""
    if not all(isinstance(x, (int, float)) for x in (base_loss, adapter_loss, loss)):
        return None
    gain = base_loss - adapter_loss
    return round((loss - adapter_loss) / gain, 6) if gain > 0 else None


def artifact_row(
    *,
    name: str,
    kind: str,
    path: str | None,
    gguf_type: str | None,
    scores: dict[str, Any],
    baseline: dict[str, Any],
    adapter: dict[str, Any],
    adapter_passed: bool,
    threshold: float,
    parity: TemplateParity | None,
    tolerance: float = GENERATION_TOLERANCE,
    **extra: Any,
) -> ArtifactRow:
    """The row of one artifact: `scores`, `baseline`, `adapter`: headline score dicts."""
    gate = apply_gate(baseline, scores, threshold, tolerance)
    reasons, checks = list(gate.reasons), list(gate.notes)
    lost = gain_lost(baseline.get("val_loss"), adapter.get("val_loss"), scores.get("val_loss"))
    if parity is not None:
        (checks if parity.ok else reasons).append(f"template parity ({parity.source}): {parity.detail}")
    limited = adapter_passed and kind != "adapter" and lost is not None
    too_much = limited and lost > MAX_GAIN_LOST
    if limited and not too_much:
        checks.append(f"{lost:.1%} of the fine-tuning gain lost (at most {MAX_GAIN_LOST:.0%} may be)")
    passed = not reasons and not too_much
    suggestion = None
    what = f"GGUF {gguf_type.upper()}" if gguf_type else name
    if not passed and adapter_passed and kind != "adapter" and (gate.reasons or too_much):
        share = f"{lost:.0%} of the fine-tuning gain lost" if lost is not None else "the gain lost"
        if not gate.reasons:  # it still beats the baseline by the threshold: the limit is what failed
            better = gate.relative_improvement or 0.0
            share += f" (at most {MAX_GAIN_LOST:.0%} may be, though it is {better:.1%} better than the baseline)"
        line = (
            f"{what} fails the gate the adapter passes: val loss {_num(scores.get('val_loss'))} against the "
            f"adapter's {_num(adapter.get('val_loss'))}, {share}"
        )
        finer = FINER.get(gguf_type or "")
        if finer:
            suggestion = f"gguf:{finer}"
            line += f"; try {finer.upper()} instead of {gguf_type.upper()} (`forge export --gguf {finer} --evaluate`)"
        reasons.insert(0, line)
    return ArtifactRow(
        artifact=name,
        kind=kind,  # type: ignore[arg-type]
        path=path,
        gguf_type=gguf_type,
        scores={k: scores.get(k) for k in ("val_loss", "perplexity", "token_f1", "exact_match")},
        deltas=gate.deltas,
        relative_improvement=gate.relative_improvement,
        gain_lost=0.0 if kind == "adapter" else lost,
        passed=passed,
        verdict="pass" if passed else "fail",
        reasons=reasons,
        checks=checks,
        suggestion=suggestion,
        template_parity=parity,
        **extra,
    )


def _num(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)
