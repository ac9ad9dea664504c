"""The evaluate gate on plain numbers (pure: no torch, no files).

The fine-tuned model passes when
  1. its val loss is finite and improves on the baseline's by at least `threshold`, relative:
     (baseline - fine_tuned) / baseline >= threshold (0.05 = 5% lower), and
  2. no generation score falls: for token F1 and exact match, fine_tuned >= baseline - tolerance.

The tolerance exists because generation scores come from a small greedy sample (16 answers by
default): one answer out of 16 flipping moves exact match by 0.0625, so demanding a strictly
non-negative delta would fail good models on noise. GENERATION_TOLERANCE (0.02 absolute, on
scores in [0, 1]) forgives rounding-level wobble in token F1 but still fails any lost exact
answer on samples of up to 50; set it to 0 for a strict gate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from forge.errors import EXIT_USAGE, ForgeError

GENERATION_TOLERANCE = 0.02
GENERATION_SCORES = ("token_f1", "exact_match")


@dataclass
class GateResult:
    passed: bool
    threshold: float
    tolerance: float
    relative_improvement: float | None
    deltas: dict[str, float | None] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why it failed (empty when passed)
    notes: list[str] = field(default_factory=list)  # what was checked, in words

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict
        return d


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_threshold(threshold: float, option: str = "--threshold") -> float:
    """`threshold` when the gate can use it, else ForgeError (exit 2) naming `option` and the range.

    NaN compares False with everything, so `threshold < 0` alone let it through (the gate then
    "needed nan%" and the record held a bare NaN); at 1 or more the gate needs a val loss of 0 or
    below, which cross-entropy never reaches, so such a gate could never pass.
    """
    if not _finite(threshold) or not 0 <= threshold < 1:
        raise ForgeError(
            f"{option} is {threshold!r}; it must be a finite number with 0 <= threshold < 1 "
            "(the relative val-loss improvement the gate needs; 0: no worse than the baseline)",
            fix=f"e.g. {option} 0.05 (the fine-tuned val loss 5% below the baseline's)",
            exit_code=EXIT_USAGE,
            kind="usage",
        )
    return float(threshold)


def deltas(baseline: dict, fine_tuned: dict, keys=("val_loss", "perplexity", *GENERATION_SCORES)) -> dict:
    """fine_tuned - baseline for every score both have (None where either is missing)."""
    out: dict[str, float | None] = {}
    for k in keys:
        a, b = baseline.get(k), fine_tuned.get(k)
        out[k] = round(b - a, 6) if _finite(a) and _finite(b) else None
    return out


def apply_gate(
    baseline: dict, fine_tuned: dict, threshold: float, tolerance: float = GENERATION_TOLERANCE
) -> GateResult:
    """Decide the gate from two score dicts (keys: val_loss, token_f1, exact_match, ...)."""
    if not _finite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, not {threshold!r}")
    base_loss, ft_loss = baseline.get("val_loss"), fine_tuned.get("val_loss")
    result = GateResult(
        passed=False,
        threshold=threshold,
        tolerance=tolerance,
        relative_improvement=None,
        deltas=deltas(baseline, fine_tuned),
    )
    reasons = result.reasons
    if not _finite(ft_loss):
        reasons.append(f"the fine-tuned val loss is not a finite number ({ft_loss})")
    elif not _finite(base_loss) or base_loss <= 0:
        reasons.append(f"the baseline val loss is unusable ({base_loss}); rerun `forge baseline`")
    else:
        rel = (base_loss - ft_loss) / base_loss
        result.relative_improvement = round(rel, 6)
        line = f"val loss {base_loss:.4f} -> {ft_loss:.4f} ({rel:+.1%} improvement; gate needs {threshold:.1%})"
        if rel >= threshold:
            result.notes.append(line)
        else:
            reasons.append(line)
    for key in GENERATION_SCORES:
        a, b = baseline.get(key), fine_tuned.get(key)
        if a is None and b is None:
            continue
        if not (_finite(a) and _finite(b)):
            reasons.append(f"{key}: missing on one side (baseline {a}, fine-tuned {b})")
            continue
        if b < a - tolerance:
            reasons.append(f"{key} fell {a:.3f} -> {b:.3f} (more than the {tolerance:.3f} tolerance)")
        else:
            result.notes.append(f"{key} {a:.3f} -> {b:.3f} (did not fall by more than {tolerance:.3f})")
    result.passed = not reasons
    return result
