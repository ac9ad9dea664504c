"""The metrics view of a project for the web UI: the three metrics files read as records (torch-free).

    metrics_view(project) -> {baseline, baseline_stale, baseline_stale_reason, training_stats, metrics_stale,
                              metrics_stale_reason, evaluation, evaluation_stale, gate, gate_note, comparison,
                              problems, loss_plot}

Each file is read through its record (forge.records.evaluate, forge.records.train), so the page
shows what `forge baseline`, `forge train` and `forge evaluate` wrote, never a guess at its shape:
a file that is not the record it should be is left out and named in `problems` with its fix.
The comparison rows come from EvaluationRecord.comparison(): val loss, perplexity, token F1 and
exact match for the base model, the fine-tuned one and the change.

`evaluation_stale` says whether evaluation.json (and so the gate) is of another adapter than the
one saved now: true when the adapter it recorded (adapter_fingerprint) was retrained or removed
since, with the fix in `problems`; null when it cannot say (no evaluation, or a file of an older
forge that recorded no fingerprint).

`baseline_stale` says whether `forge evaluate` would refuse baseline.json for the project as it is
now (training-config.json and the val file): evaluate's own rule (forge.evaluate.baseline.
baseline_refusal: another model, val file or scoring settings), with its message and fix in
`baseline_stale_reason`; null when it cannot say (no baseline, a config that does not load, no val
split). The precision the weights load in is compared as `forge check` compares it, once the
app's hardware probe has answered (before that, the flags behind it: model.load_in_4bit, ...).

`metrics_stale` says whether training-stats.json (and the loss plot written with it) is of another
run than the one the status file describes, from what both files record (training_stats_staleness,
forge.check.staleness: the rule `forge verify` applies to its quality checks too):
the stats' `run_id` against the status's, and for files without one (the original script, older
forge) the stats' `completed_at` against the run's `started_at`. A new run in progress, a run
refused or failed before it wrote its own stats, and a resumed run still training all leave the
last stats on disk: the page shows them, marked, with `metrics_stale_reason` saying whose they are.
Null when it cannot say (no stats, no status, or neither a run id nor the times to compare).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.check.artifacts import ADAPTER_FILES, adapter_fingerprint
from forge.check.staleness import run_status, training_stats_staleness
from forge.files import resolve_inside
from forge.hints import name_folder
from forge.project import Project
from forge.records.base import Record, try_read_record
from forge.records.evaluate import BaselineRecord, EvaluationRecord
from forge.records.train import TrainingStats
from forge.web.readers import finite


def _read(path: Path, cls: type[Record], problems: dict[str, str]) -> Record | None:
    record, why = try_read_record(path, cls)
    if why:
        problems[path.name] = why
    return record


def gate_verdict(evaluation: EvaluationRecord | None) -> dict[str, Any] | None:
    """The evaluate gate as the page's badge shows it; None before `forge evaluate` ran."""
    if evaluation is None:
        return None
    return {
        "passed": evaluation.passed,
        "threshold": evaluation.threshold,
        "relative_improvement": evaluation.relative_improvement,
    }


def gate_note(view: dict[str, Any], root: Path) -> str | None:
    """The page's line under the gate badge before `forge evaluate` ran (None after): what to run
    next, from the metrics view as served (its baseline, evaluation and baseline_stale), written
    here so that its hints name the folder, absolute, as every hint the page shows (forge.hints)."""
    if view.get("evaluation") is not None:
        return None
    if view.get("baseline_stale") is True:  # a baseline evaluate would refuse is no baseline for the gate
        text = f"stale baseline: {view.get('baseline_stale_reason') or 'run `forge baseline` again'}"
    elif view.get("baseline") is not None:
        text = "run `forge evaluate` after training to apply the gate"
    else:
        text = "no baseline yet: run `forge baseline`, then `forge evaluate` after training"
    return name_folder(text, root, absolute=True)


# (lora_dir, stat of each adapter file) -> fingerprint: the page asks for the metrics on every
# change of the project's files, and an adapter can be hundreds of MB, so it is hashed again only
# when one of its files changed
_fingerprints: dict[tuple, dict | None] = {}


def _current_fingerprint(lora_dir: Path) -> dict | None:
    key: list = [str(lora_dir)]
    for name in ADAPTER_FILES:
        try:
            st = (lora_dir / name).stat()
        except OSError:
            return None
        key.append((st.st_size, st.st_mtime_ns, st.st_ino))
    if tuple(key) not in _fingerprints:
        if len(_fingerprints) > 64:  # one entry per project and adapter version; bounded all the same
            _fingerprints.clear()
        _fingerprints[tuple(key)] = adapter_fingerprint(lora_dir)
    return _fingerprints[tuple(key)]


def _adapter_dir(project: Project, recorded: str | None) -> Path | None:
    """The folder evaluation.json names; a relative one only while it stays inside the project
    (the page must not be steered into hashing files elsewhere by an edited file)."""
    if not recorded:  # an older evaluation.json: the adapter the config names now
        from forge.config.verb_config import reader_config

        return project.outputs(reader_config(project)).lora
    if Path(recorded).is_absolute():
        return Path(recorded)  # save.lora_path set to a folder outside the project: evaluate wrote it
    return resolve_inside(project.root, recorded)


def evaluation_staleness(project: Project, evaluation: EvaluationRecord | None) -> tuple[bool | None, str | None]:
    """(stale, why): whether `evaluation` scored another adapter than the one saved now, by the
    gate's own rule (EvaluationRecord.adapter_gone_or_changed), the fingerprint read through the cache."""
    if evaluation is None or not (evaluation.adapter_fingerprint or {}).get("sha256"):
        return None, None
    lora = _adapter_dir(project, evaluation.adapter)
    if lora is None:
        return None, None
    stale = evaluation.adapter_gone_or_changed(_current_fingerprint(lora), project.rel(lora))
    if stale is None:
        return False, None
    return True, f"{stale[0]}; fix: {stale[1]}"


# (val path, stat) -> sha256: the val split is hashed again only when it changed
_val_hashes: dict[tuple, str] = {}


def _val_sha256(path: Path) -> str:
    from forge.files import sha256_file

    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _val_hashes:
        if len(_val_hashes) > 64:
            _val_hashes.clear()
        _val_hashes[key] = sha256_file(path)
    return _val_hashes[key]


def baseline_staleness(
    project: Project, baseline: BaselineRecord | None, hardware=None
) -> tuple[bool | None, str | None]:
    """(stale, why): whether `forge evaluate` would refuse `baseline` for the project's config and val file;
    `hardware`: the probed HardwareInfo, for the precision the weights would load in (as check asks)."""
    from forge.config import ConfigError, load_config
    from forge.errors import ForgeError
    from forge.evaluate.baseline import baseline_refusal, score_identity, val_file

    if baseline is None:
        return None, None
    try:
        cfg = load_config(project.config_file)
        path = val_file(project, cfg)
        # as with the adapter: a relative path only while it stays inside the project (links included)
        if not Path(cfg.dataset.val_path).is_absolute() and resolve_inside(project.root, cfg.dataset.val_path) is None:
            return None, None
        now = score_identity(project, cfg, path, val_sha256=_val_sha256(path))
    except (ConfigError, ForgeError, OSError):
        return None, None
    precision = None
    if hardware is not None:  # check's rule (forge.check.before): bf16 unknown on a GPU is not compared
        from forge.models.precision import load_precision

        precision = load_precision(cfg.model, cuda=hardware.has_gpu, bf16=True if hardware.bf16 else None)
    refused = baseline_refusal(baseline, now, project.baseline_file, precision=precision)
    if refused is None:
        return False, None
    return True, f"{refused.message}\nfix: {refused.fix}"


def metrics_view(project: Project, loss_plot_url: str | None = None, hardware=None) -> dict[str, Any]:
    problems: dict[str, str] = {}
    baseline = _read(project.baseline_file, BaselineRecord, problems)
    baseline_stale, baseline_why = baseline_staleness(project, baseline, hardware)
    stats = _read(project.training_stats_file, TrainingStats, problems)
    evaluation = _read(project.evaluation_file, EvaluationRecord, problems)
    stale, why = evaluation_staleness(project, evaluation)
    if why:
        problems[project.evaluation_file.name] = why
    try:
        run = run_status(project) if stats is not None else {}
    except Exception:  # a vanished folder mid-read: the stats are shown, whose they are is unknown
        run = {}
    metrics_stale, metrics_why = training_stats_staleness(stats, run)

    def named(text: str | None) -> str | None:  # the page's reader pastes from anywhere: absolute (forge.hints)
        return name_folder(text, project.root, absolute=True)

    problems = {k: named(v) for k, v in problems.items()}
    shown = evaluation.to_data() if evaluation else None
    if shown is not None:  # an older forge wrote its reasons' hints without the folder
        shown["reasons"] = [named(r) for r in shown.get("reasons") or []]
    view = finite(
        {
            "baseline": baseline.to_data() if baseline else None,
            "baseline_stale": baseline_stale,
            "baseline_stale_reason": named(baseline_why),
            "training_stats": stats.to_data() if stats else None,
            "metrics_stale": metrics_stale,
            "metrics_stale_reason": named(metrics_why),
            "evaluation": shown,
            "evaluation_stale": stale,
            "gate": gate_verdict(evaluation),
            "comparison": evaluation.comparison() if evaluation else [],
            "problems": problems,
            "loss_plot": loss_plot_url if project.loss_plot_file.is_file() else None,
        }
    )
    view["gate_note"] = gate_note(view, project.root)
    return view
