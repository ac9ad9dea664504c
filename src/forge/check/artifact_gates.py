"""forge verify's Quality items for the shipped artifacts: each one's gate from metrics/evaluation.json.

`forge evaluate --artifact ...` (or `forge export --evaluate`) gates the merged folder and each GGUF
on its own; verify shows each verdict as an item, "gate: gguf:q8_0", failed where that artifact failed
its gate (a quantization that lost the gain, a template that renders differently) and not checked
where the row is of another adapter than the one there now. Torch-free: it reads the record.
"""

from __future__ import annotations

from typing import Any

from forge.check.artifacts import adapter_fingerprint
from forge.records.base import try_read_record
from forge.records.evaluate import EvaluationRecord


def add_artifact_gates(project: Any, cfg: Any, cl: Any) -> None:
    record, _ = try_read_record(project.evaluation_file, EvaluationRecord)
    if record is None or not record.artifacts:
        return
    now = (adapter_fingerprint(project.outputs(cfg).lora) or {}).get("sha256")
    again = "`forge evaluate --artifact all` (it scores every artifact exported)"
    for row in record.artifacts:
        if row.kind == "adapter":
            continue
        name = f"gate: {row.artifact}"
        loss = row.scores.get("val_loss")
        lost = f", {row.gain_lost:.1%} of the adapter's gain lost" if row.gain_lost is not None else ""
        detail = f"val loss {loss}{lost}"
        if row.adapter_sha256 != now:
            cl.add("Quality", name, "skip", f"not checked: scored for another adapter ({detail})", again)
        elif row.passed:
            cl.add("Quality", name, "ok", detail + "; template parity ok" * bool(row.template_parity))
        else:
            fix = f"export {row.suggestion} instead" if row.suggestion else "see metrics/evaluation.json"
            cl.add("Quality", name, "fail", "; ".join(row.reasons[:2]) or detail, fix)
