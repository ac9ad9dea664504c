"""The outputs checklist (`forge verify`): required artifacts, optional artifacts, quality (torch-free).

The original script's after-training checklist: the adapter files and training-stats.json must
exist; a merged model and GGUF files are optional; the loss should have gone down, and the run must
not have hit CUDA out-of-memory. The quality verdict is the evaluate gate's (forge.evaluate.verdict):
a failed or missing gate is not ready. The original "final loss below 1.0 (ideally below 0.5)"
stays as advice (a warning), since a loss's scale depends on the data.

The loss checks judge the last run, from training-stats.json (and the history beside it). A run
refused or failed before it wrote its own stats, one still running, or a resumed one still
training leaves an older run's there: those checks are then `stale` (failed, not ready, exit 1),
saying whose stats they are and what the last run did, by the rule the web UI's metrics use
(forge.check.staleness). The required items keep asking only whether the files are there and whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

from forge.check.artifacts import ADAPTER_FILES, adapter_fingerprint, gguf_header, real_file, safetensors_header
from forge.check.before import Checklist
from forge.check.export_report import FAILED, NOT_CHECKED, PASSED, read_export_report
from forge.check.staleness import CURRENT, Staleness, run_status, stats_staleness
from forge.clock import parse_time
from forge.config import ForgeConfig
from forge.project import Project
from forge.records.base import try_read_record
from forge.records.train import TrainingStats, read_history
from forge.status import read_status

SECTIONS = ("Required", "Optional", "Quality")
EXPORT_HINT = "install llama-cpp-python (pip install 'factory-forge[export]') and export again to run these"
GOOD_LOSS = 0.5
MAX_LOSS = 1.0


def _config(project: Project) -> ForgeConfig:
    """The config whose folders are checked when none is given (the web UI): the verbs' rule
    (forge.config.verb_config); a broken file checks the default folders (`forge verify` refuses it)."""
    from forge.config.verb_config import reader_config

    return reader_config(project)


def _rel(project: Project, p: Path) -> str:
    try:
        return str(p.relative_to(project.root))
    except ValueError:
        return str(p)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def train_losses(history: Path) -> list[float]:
    """The train loss of every logged step, through the one history reader (records.train)."""
    return [row.loss for row in read_history(history) if row.loss is not None]


def loss_trend(losses: list[float]) -> tuple[float, float] | None:
    """Mean of the first and of the last window (a tenth of the run, 1 to 10 points): noise-tolerant."""
    if len(losses) < 2:
        return None
    w = max(1, min(10, len(losses) // 10 or 1))
    return fmean(losses[:w]), fmean(losses[-w:])


def _required(project: Project, cfg: ForgeConfig, cl: Checklist) -> TrainingStats | None:
    sec = "Required"
    lora = project.outputs(cfg).lora
    for name in ADAPTER_FILES:
        f = lora / name
        why = _broken(project, f)
        if not why:
            cl.add(sec, name, "ok", _rel(project, f))
        else:
            cl.add(
                sec, name, "fail", f"{_rel(project, f)} {why}", "run `forge train` (it saves the adapter at the end)"
            )
    _adapter_base_item(project, cfg, lora, cl, sec)
    rel = _rel(project, project.training_stats_file)
    record, refused = (
        try_read_record(project.training_stats_file, TrainingStats)
        if _inside(project, project.training_stats_file)
        else (None, None)
    )
    stats = record.to_data() if record is not None else None
    if stats is None:
        why = refused or f"{rel} missing or unreadable"
        cl.add(sec, "training-stats.json", "fail", why, "run `forge train` to completion")
    elif stats.get("final_loss") is None or not stats.get("total_steps"):
        cl.add(sec, "training-stats.json", "fail", f"{rel} has no final metrics", "run `forge train` to completion")
    else:
        cl.add(sec, "training-stats.json", "ok", f"{stats['total_steps']} steps, final loss {stats['final_loss']:.4f}")
    return record


def _adapter_base_item(project: Project, cfg: ForgeConfig, lora: Path, cl: Checklist, sec: str) -> None:
    """The adapter's base is model.name: the rule export and evaluate refuse by (exit 2), so verify
    does not call an adapter of another model fine (forge.models.adapter_base)."""
    from forge.errors import ForgeError
    from forge.models.adapter_base import adapter_base

    if any(_broken(project, lora / name) for name in ADAPTER_FILES):
        return  # said by the file items above
    try:
        base = adapter_base(lora, cfg.model.name, where=_rel(project, lora))
    except ForgeError as e:
        if e.kind == "adapter_mismatch":
            cl.add(sec, "adapter base", "fail", e.message, e.fix)
        return  # an unreadable adapter_config.json or a base not here: not this item's to judge
    cl.add(
        sec,
        "adapter base",
        "ok",
        f"trained on {cfg.model.name}" + ("" if base.recorded == cfg.model.name else f" ({base.recorded})"),
    )


def _inside(project: Project, path: Path) -> bool:
    """Whether a project file resolves inside the project: a link out is not this run's record."""
    return real_file(project.root, path)[1] != "links outside the project"


def _json_object(path: Path) -> tuple[dict | None, str]:
    data = _read_json(path)
    return (data, "") if data is not None else (None, "is not a JSON object")


def _broken(project: Project, f: Path) -> str:
    """Why a JSON or safetensors output is not what its name says ("" when it is)."""
    real, why = real_file(project.root, f)
    if real is not None:
        _, why = safetensors_header(real) if f.suffix == ".safetensors" else _json_object(real)
    return why


def merged_folder(project: Project, cfg: ForgeConfig) -> Path:
    return project.outputs(cfg).merged


def gguf_folder(project: Project, cfg: ForgeConfig) -> Path:
    return project.outputs(cfg).gguf


def _optional(project: Project, cfg: ForgeConfig, cl: Checklist) -> list[Path]:
    """The merged model and GGUF items; returns the outputs present (for the provenance check)."""
    sec = "Optional"
    present: list[Path] = []
    merged = merged_folder(project, cfg)
    shards = sorted(merged.glob("*.safetensors"))
    if (merged / "config.json").exists() or shards:
        bad = [f"{f.name} {why}" for f in [merged / "config.json", *shards] if (why := _broken(project, f))]
        if not shards:
            bad.append("no *.safetensors weights")
        if bad:
            cl.add(sec, "merged model", "fail", f"{_rel(project, merged)}: {'; '.join(bad)}", "`forge export --merged`")
        else:
            cl.add(sec, "merged model", "ok", f"{_rel(project, merged)} ({len(shards)} safetensors file(s))")
        present.append(merged)
    else:
        cl.add(
            sec, "merged model", "warn", f"{_rel(project, merged)} not present", "`forge export --merged` (for vLLM)"
        )
    ggufs = sorted(gguf_folder(project, cfg).glob("*.gguf"))
    good, bad = [], []
    for g in ggufs:
        real, why = real_file(project.root, g)
        header = None
        if real is not None:
            header, why = gguf_header(real)
        if header is None:
            bad.append(f"{g.name} {why}")
        else:
            good.append(f"{g.name} (v{header['version']}, {header['tensors']} tensors)")
            present.append(g)
    if bad:
        cl.add(
            sec,
            "GGUF files",
            "fail",
            "; ".join(bad + good),
            "delete the broken files and run `forge export --gguf q8_0` again",
        )
    elif good:
        cl.add(sec, "GGUF files", "ok", ", ".join(good))
    else:
        cl.add(
            sec,
            "GGUF files",
            "warn",
            f"none in {_rel(project, gguf_folder(project, cfg))}/",
            "`forge export --gguf q8_0` (llama.cpp, Ollama)",
        )
    return present


def _provenance(project: Project, cfg: ForgeConfig, present: list[Path], cl: Checklist) -> None:
    """Whether the merged model and GGUF files come from the adapter that is there now, and which
    of the export's own checks ran (a check that did not run is "not checked", never passed)."""
    sec = "Optional"
    if not present:
        return
    facts, why = read_export_report(project)
    name = "outputs made from this adapter"
    again = "`forge export` again (the adapter changed after the outputs were made)"
    if facts is None:
        cl.add(sec, name, "skip", f"not checked: {why or 'no metrics/export-report.json'}", "`forge export` writes it")
        return
    if not facts.ok:
        cl.add(
            sec,
            "last export",
            "warn",
            f"failed ({facts.error or 'see the report'}); the outputs present are from an earlier export",
            "see metrics/export-report.json and run `forge export` again",
        )
    states = facts.states()
    if facts.ok and facts.checks:
        counts = f"{len(states[PASSED])} passed"
        if states[FAILED]:
            counts += f", {len(states[FAILED])} failed"
        if states[NOT_CHECKED] or facts.not_inferred:
            skipped = states[NOT_CHECKED] + [f"GGUF {n}: llama.cpp inference" for n in facts.not_inferred]
            cl.add(sec, "export checks", "skip", f"{counts}; not checked: {'; '.join(skipped)}", EXPORT_HINT)
        else:
            cl.add(sec, "export checks", "ok", counts)
    current = adapter_fingerprint(project.outputs(cfg).lora)
    now_sha = current["sha256"] if current else None
    # each output against the export that made it (the report's ledger, which carries earlier
    # exports' outputs on): not on record, or changed on disk after that export, is "not made by
    # an export"; made from an adapter other than today's is stale
    unknown, stale, unvouched, shas = [], [], [], set()
    for p in present:
        entry = facts.made.get(str(p.resolve()))
        made_at = parse_time(entry.get("exported_at")) if entry else None
        if entry is None or made_at is None or _mtime(p) > made_at.timestamp() + 2:
            unknown.append(p.name)
        elif not entry.get("adapter_sha256") or now_sha is None:
            unvouched.append(p.name)
        elif entry["adapter_sha256"] != now_sha:
            stale.append(p.name)
            shas.add(entry["adapter_sha256"][:12])
    if stale:
        cl.add(
            sec,
            name,
            "fail",
            f"{', '.join(sorted(stale))} made from another adapter ({', '.join(sorted(shas))}); "
            f"the adapter now is {now_sha[:12]}",
            again,
        )
    elif unknown:
        cl.add(
            sec,
            name,
            "skip",
            f"not checked: {', '.join(sorted(unknown))} not made by an export on record "
            "(metrics/export-report.json), or changed since",
            "`forge export` makes, verifies and records them",
        )
    elif unvouched:
        what = "no adapter" if now_sha is None else "the export report records no adapter fingerprint"
        cl.add(sec, name, "skip", f"not checked: {what}", again)
    else:
        cl.add(sec, name, "ok", f"adapter {now_sha[:12]}, exported {facts.completed_at}")


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return float("inf")


# what a quality check says when its input is another run's: it was not judged for the last run
WAIT = "wait for that run to finish (`forge status --watch`), then run `forge verify` again"


def _stale(cl: Checklist, name: str, value: str, stale: Staleness) -> None:
    cl.add("Quality", name, "fail", f"stale: {value} {stale.reason}", stale.fix or WAIT, stale=True)


def _gate(project: Project, cfg: ForgeConfig, cl: Checklist) -> None:
    """The quality verdict: the evaluate gate's on the adapter there now (forge.evaluate.verdict)."""
    from forge.evaluate.verdict import gate_verdict

    verdict = gate_verdict(project, project.outputs(cfg).lora)
    word = {"pass": "passed", "fail": "failed"}.get(verdict.state, "not judged")
    cl.add("Quality", "evaluate gate", "ok" if verdict.passed else "fail", f"{word}: {verdict.detail}", verdict.fix)


# the original checklist's loss thresholds, kept as advice: the gate (above) is the verdict
ADVICE = "advice, not the verdict: a loss's scale depends on the data; the evaluate gate compares with the baseline"


def _quality(project: Project, stats: dict | None, cl: Checklist, stale: Staleness = CURRENT) -> None:
    sec = "Quality"
    final = (stats or {}).get("final_loss")
    if final is None:
        cl.add(sec, f"final loss < {MAX_LOSS}", "fail", "no final loss recorded", "run `forge train` to completion")
    elif stale.stale:
        name = f"final loss < {GOOD_LOSS if final < MAX_LOSS else MAX_LOSS}"  # the item's name, as if judged
        _stale(cl, name, f"{final:.4f} is not the last run's final loss:", stale)
    elif final < GOOD_LOSS:
        cl.add(sec, f"final loss < {GOOD_LOSS}", "ok", f"{final:.4f}")
    else:
        name = f"final loss < {GOOD_LOSS if final < MAX_LOSS else MAX_LOSS}"
        where = f"below {MAX_LOSS} but above the ideal {GOOD_LOSS}" if final < MAX_LOSS else f"above {MAX_LOSS}"
        cl.add(
            sec,
            name,
            "warn",
            f"{final:.4f}: {where} ({ADVICE})",
            "more data or epochs usually lower it; check the eval loss and the gate's scores too",
        )

    losses = train_losses(project.history_file) if _inside(project, project.history_file) else []
    trend = loss_trend(losses)
    if trend is None and stats and stats.get("first_train_loss") is not None and final is not None:
        trend = (stats["first_train_loss"], final)
    if stale.stale and final is not None:
        # the history is the stats' run's, or a run's that has not finished: neither judges the last run
        seen = f"{trend[0]:.4f} -> {trend[1]:.4f}" if trend else "no loss history"
        _stale(cl, "loss decreased", f"{seen}, not judged: the last run has no finished stats;", stale)
    elif trend is None:
        cl.add(sec, "loss decreased", "fail", "no loss history", "run `forge train` to completion")
    elif trend[1] < trend[0]:
        cl.add(sec, "loss decreased", "ok", f"{trend[0]:.4f} -> {trend[1]:.4f}")
    else:
        cl.add(
            sec,
            "loss decreased",
            "fail",
            f"{trend[0]:.4f} -> {trend[1]:.4f}: the loss did not go down",
            "lower training.learning_rate (diverging) or raise it / train longer (flat)",
        )

    st = read_status(project.status_file)
    oom_log = False
    if project.log_file.exists() and _inside(project, project.log_file):
        text = project.log_file.read_text(encoding="utf-8", errors="replace").lower()
        oom_log = "cuda out of memory" in text or "outofmemoryerror" in text
    if st.error_kind == "oom" or oom_log:
        where = "the status" if st.error_kind == "oom" else "logs/training.log"
        cl.add(
            sec,
            "no CUDA out-of-memory",
            "fail",
            f"out-of-memory recorded in {where}",
            "lower per_device_train_batch_size or max_seq_length and retrain",
        )
    else:
        cl.add(sec, "no CUDA out-of-memory", "ok", "none recorded")


def run_verify(project: Project, cfg: ForgeConfig | None = None) -> Checklist:
    """The checklist of the outputs `cfg` names (None: the config the verbs would read, _config)."""
    cfg = cfg if cfg is not None else _config(project)
    cl = Checklist(config=cfg)
    record = _required(project, cfg, cl)
    present = _optional(project, cfg, cl)
    _provenance(project, cfg, present, cl)
    stale = stats_staleness(record, run_status(project)) if record is not None else CURRENT
    _gate(project, cfg, cl)
    _quality(project, record.to_data() if record is not None else None, cl, stale)
    from forge.check.artifact_gates import add_artifact_gates

    add_artifact_gates(project, cfg, cl)  # each shipped artifact's own gate (forge evaluate --artifact)
    return cl
