"""The Baseline Done item of `forge check`: whether `forge evaluate` would gate against this baseline."""

from __future__ import annotations

from forge.errors import ForgeError
from forge.project import Project
from forge.records.base import try_read_record
from forge.records.checklists import Checklist
from forge.records.evaluate import BaselineRecord


def check_baseline(project: Project, cl: Checklist) -> None:
    """Done when `forge evaluate` would gate against metrics/baseline.json for this run: evaluate's
    own rule (forge.evaluate.baseline.usable_baseline: the model, the val file's sha256, the scoring
    settings and the precision the weights would load in on this machine), with its words. The
    baseline is not needed to train, so one that is missing or made for something else warns, as
    before; a file that is no baseline at all fails."""
    from forge.evaluate.baseline import usable_baseline
    from forge.models.precision import load_precision

    sec, name = "Baseline Done", "metrics/baseline.json"
    f = project.baseline_file
    if not f.exists():
        cl.add(sec, name, "warn", "no baseline yet; evaluate's gate needs one", "run `forge baseline`")
        return
    # read as `forge evaluate` reads it: a file evaluate would refuse is not a done baseline
    record, refused = try_read_record(f, BaselineRecord)
    if record is None:
        cl.add(sec, name, "fail", f"unreadable: {refused}", "rerun `forge baseline`")
        return
    cfg, hw = cl.config, cl.hardware
    if cfg is None:  # Config Ready says why
        cl.add(
            sec,
            name,
            "warn",
            f"model {record.model}, val loss {record.val_loss}; not compared with the run: its config does not load",
            "fix the config, then `forge check` again",
        )
        return
    # bf16 False on a GPU is not a sure float16: torch may emulate bfloat16 there (unknown: not compared)
    precision = load_precision(cfg.model, cuda=hw.has_gpu, bf16=True if hw.bf16 else None) if hw else None
    try:
        usable_baseline(project, cfg, precision=precision)
    except ForgeError as e:  # another model, val file, settings or precision; or no val split to score
        fix = e.fix if "forge baseline" in (e.fix or "") else f"{e.fix}, then `forge baseline`"
        cl.add(sec, name, "warn", e.message, fix)
        return
    cl.add(
        sec, name, "ok", f"model {record.model}, val loss {record.val_loss}; made for this model, val file and settings"
    )
