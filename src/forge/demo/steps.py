"""The demo's steps: each calls one wing's function and hands back what it returned (no printing).

    outcome = STEPS["baseline"](project)   ->  Outcome(code, detail, data, result)

`code` is the verb's exit code for that result, `detail` the one line of the demo's table, `data`
what the verb's --json would print (the demo's --json answer carries it), `result` the wing's
own object, for the command to print. A ForgeError is left to the caller, as the verbs leave it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forge.errors import EXIT_FAIL, EXIT_GATE, EXIT_OK
from forge.project import Project
from forge.records.base import try_read_record
from forge.records.train import TrainingStats


@dataclass
class Outcome:
    code: int
    detail: str = ""
    data: Any = None
    result: Any = None
    note: bool = False  # passed, with a remark the table shows as "! note"


def _r(x) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def check(project: Project) -> Outcome:
    from forge.check.before import run_checklist

    cl = run_checklist(project, None)
    data = {**cl.to_dict(), "project": str(project.root)}
    return Outcome(EXIT_OK if cl.ready else EXIT_FAIL, "ready to train" if cl.ready else "not ready", data, cl)


def baseline(project: Project) -> Outcome:
    from forge.evaluate.baseline import compute_baseline

    b = compute_baseline(project)
    detail = f"val loss {b.val_loss}, token F1 {b.token_f1}, exact {b.exact_match}"
    return Outcome(EXIT_OK, detail, b.summary(), b)


def train(project: Project, progress: Callable | None = None, console_handler: Any = None) -> Outcome:
    from forge.train.distributed import World
    from forge.train.start import TrainRequest, exit_code, load_run_config, train_here

    request = TrainRequest()
    world = World.current()
    cfg = load_run_config(project, request, world)
    result = train_here(project, cfg, request, world, progress=progress, console_handler=console_handler)
    stats = result.stats
    data = stats.to_data() if hasattr(stats, "to_data") else (stats or result.status.to_dict())
    return Outcome(exit_code(result, world), train_detail(project), data, result)


def train_detail(project: Project) -> str:
    """From training-stats.json, so that a failed run that still wrote its stats is described too."""
    s, _ = try_read_record(project.training_stats_file, TrainingStats)
    if s is None:
        return ""
    return f"{s.total_steps} steps, final loss {_r(s.final_loss)}" + (f", {s.backend}" if s.backend else "")


def evaluate(project: Project) -> Outcome:
    from forge.evaluate.evaluation import compute_evaluation

    e = compute_evaluation(project)
    imp = e.relative_improvement
    detail = (
        f"gate {e.verdict.upper()}: val loss {_r(e.baseline.val_loss)} -> {_r(e.fine_tuned.val_loss)}"
        + (f" ({imp:+.1%})" if isinstance(imp, float) else "")
        + f", token F1 {e.fine_tuned.token_f1}, exact {e.fine_tuned.exact_match}"
    )
    return Outcome(EXIT_OK if e.passed else EXIT_GATE, detail, e.summary(), e)


def evaluate_artifacts(project: Project, names: list[str], progress: Callable | None = None) -> Outcome:
    """The exported files gated as the adapter was (forge evaluate --artifact): the demo's Q8_0."""
    from forge.evaluate.evaluation import compute_evaluation

    e = compute_evaluation(project, artifacts=names, say=progress)
    rows = [r for r in e.rows() if r.artifact in names]
    detail = "; ".join(
        f"{r.artifact} gate {r.verdict.upper()}: val loss {_r(r.scores.get('val_loss'))}"
        + (f" ({r.gain_lost:.1%} of the gain lost)" if isinstance(r.gain_lost, float) else "")
        + (", template parity ok" if r.template_parity and r.template_parity.ok else "")
        for r in rows
    )
    return Outcome(EXIT_OK if all(r.passed for r in rows) else EXIT_GATE, detail, e.summary(), e)


def export_available() -> str | None:
    """None when forge export can run here, else why not (the demo skips the step)."""
    try:
        from forge.export import export_project  # noqa: F401  (the module is there, not a stub)
    except ImportError as e:
        return f"forge export is not available here ({e.name})"
    return None


def export(project: Project, progress: Callable[[str], None] | None = None) -> Outcome:
    """Merged 16-bit + GGUF q8_0. A failed verification comes back as an outcome with its report."""
    from forge.config import load_config
    from forge.export import ExportVerificationError, export_project

    cfg = load_config(project.config_file)
    try:
        report = export_project(project, cfg, True, ["q8_0"], progress=progress)
    except ExportVerificationError as e:
        detail = e.message.splitlines()[0] + (f" (fix: {e.fix})" if e.fix else "")
        return Outcome(EXIT_FAIL, detail, e.report.to_dict(), e.report)
    where = project.outputs(cfg)
    files = sorted(x.name for x in where.gguf.glob("*.gguf")) if where.gguf.exists() else []
    merged = "merged" if (where.merged / "config.json").exists() else ""
    detail = ", ".join(x for x in [merged, *files] if x) if report.ok else "export failed"
    return Outcome(EXIT_OK if report.ok else EXIT_FAIL, detail, report.to_dict(), report)


def verify(project: Project, quick: bool) -> Outcome:
    from forge.check.outputs import run_verify

    cl = run_verify(project)
    data = {"ok": cl.ready, "project": str(project.root), "sections": cl.to_dict()["sections"]}
    if cl.ready:
        return Outcome(EXIT_OK, "outputs checklist passed", data, cl)
    failing = [i for i in cl.items if i.status == "fail"]
    if quick and all(i.section == "Quality" and i.name.startswith("final loss") for i in failing):
        # --quick: a tiny random model never reaches verify's "final loss < 1.0"; that alone is no failure
        detail = f"artifacts ok; {failing[0].detail}: a random tiny model is not expected to reach it"
        return Outcome(EXIT_OK, detail, data, cl, note=True)
    return Outcome(EXIT_FAIL, "; ".join(f"{i.name}: {i.detail}" for i in failing)[:200], data, cl)
