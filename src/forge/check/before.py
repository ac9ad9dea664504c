"""The pre-training checklist (`forge check`); the outputs checklist lives in check/outputs.py.

Each item is ticked or carries its reason and its fix. The data items come from the same
streaming validation training runs (forge.data.validate); everything about the model, the
template, the sizes and the memory comes from the one resolver (forge.plan.resolve, as
configured): its refusals are this list's failures, word for word the errors `forge train` would
stop with, so that check says ready exactly when train would start. No weights are loaded; torch
is imported only by hardware.probe() (and by building a tiny built-in the first time).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from forge.check.baseline_item import check_baseline
from forge.config import ConfigError, ForgeConfig, config_path
from forge.errors import ForgeError
from forge.plan.hardware import HardwareInfo
from forge.project import Project
from forge.records.checklists import Checklist, Item

if TYPE_CHECKING:
    from forge.train.start import TrainRequest

SECTIONS = ("Data Ready", "Hardware Ready", "Config Ready", "Baseline Done")
__all__ = ["Checklist", "Item", "SECTIONS", "run_checklist"]

# refusal kind -> (section, item name) of the checklist line it fails
ITEMS = {
    "samples": ("Data Ready", "enough samples"),
    "tokenizer": ("Data Ready", "tokenizer fits the data"),
    "truncation": ("Data Ready", "examples fit max_seq_length"),
    "template": ("Config Ready", "chat template suits the model"),
    "lora_targets": ("Config Ready", "LoRA targets exist"),
    "memory": ("Config Ready", "model suits the hardware"),
    "sizes": ("Config Ready", "model suits the hardware"),
    "model": ("Config Ready", "model found"),
    "backend": ("Hardware Ready", "backend can run here"),
    "fp8": ("Hardware Ready", "FP8 suits the backend and GPU"),
    "seq_length": ("Config Ready", "max_seq_length within the model"),
    "report_to": ("Config Ready", "trackers installed"),
    "paths": ("Config Ready", "output folders writable"),
    "checkpoints": ("Config Ready", "no earlier run in the output folder"),
    "resume": ("Config Ready", "resume continues the run"),
}


def _check_config(project: Project, cl: Checklist, request: TrainRequest) -> ForgeError | None:
    """The config train would load, by train's own two steps (forge.train.start: configured_config,
    the file + --set; resumed_config, with --resume the run's recorded config + the safe --set
    values). Returns the resume's refusal, which the start point item reports; cl.config is then the
    run's config without this call's --set (forge.train.start.described_config), for the other items."""
    from forge.train.start import configured_with_notes, described_config, resumed_config

    sec = "Config Ready"
    try:
        path = config_path(project.root, request.config)  # --config: the file train would read
        chosen = configured_with_notes(project, request)  # a plain --resume: the last run's, when elsewhere
        cfg = chosen.cfg
        if chosen.source.file is not None:
            path = chosen.source.file
    except ConfigError as e:
        fix = e.file_fix or "fix the keys named above (`forge schema` lists them all)"
        cl.add(sec, "config valid", "fail", e.render(), fix)
        return None
    except ForgeError as e:  # --config names no file; the folder does not exist
        cl.add(sec, "config valid", "fail", e.message, e.fix)
        return None
    where = path.name if path.exists() else "defaults (no training-config.json)"
    refused = None
    try:
        run_cfg = resumed_config(project, request, cfg)  # the file's unless --resume finds a checkpoint
    except ForgeError as e:
        refused = e
        # the other items check the run as it resumes without this call's --set (the fix's first advice)
        run_cfg = described_config(project, request) or cfg
    cl.config = run_cfg
    if run_cfg is cfg:
        cl.add(sec, "config valid", "ok", f"{where}; model {cfg.model.name}")
    else:
        cl.add(sec, "config valid", "ok", f"{where}; --resume: the run's recorded config, model {run_cfg.model.name}")
    for note in chosen.notes:  # the run a plain --resume follows, or why it cannot
        text, _, fix = note.partition("; fix: ")
        cl.add(sec, "config of the run to resume", "warn" if chosen.followed is None else "ok", text, fix or None)
    return refused


def _check_data(project: Project, cl: Checklist) -> None:
    from forge.data.validate import validate_splits

    sec = "Data Ready"
    cfg = cl.config or ForgeConfig()
    rel, vrel = cfg.dataset.path, cfg.dataset.val_path
    train_path = project.path(rel)
    val_path = project.path(vrel) if vrel else None
    train, val = validate_splits(train_path, val_path, display=(rel, vrel))
    cl.data = {"train": train.to_dict(), "val": val.to_dict() if val else None}
    if not train.exists:
        cl.add(
            sec, "train split exists", "fail", f"{rel} not found", "run the format step, or point dataset.path at it"
        )
        return
    cl.add(sec, "train split exists", "ok", rel)
    if train.fatal or train.counts:
        bad = sum(train.counts.values())
        lines = [p.render(rel) for p in train.problems[:10]]
        detail = (
            train.fatal_text()
            if train.fatal
            else f"{rel}: {bad} bad record(s): " + ", ".join(f"{k} x{v}" for k, v in train.counts.items())
        )
        if lines:
            detail += "\n" + "\n".join(lines)
        fix = (
            train.fix_text()
            if train.fatal
            else f"fix or drop the {train.named()} named above (`forge check --json` lists them all)"
        )
        cl.add(sec, "format valid", "fail", detail, fix)
    else:
        conv = ", ".join(f"{k} x{v}" for k, v in train.conversions.items())
        pics = f"; {train.images} image(s) in {train.image_records} conversations, each opened" if train.images else ""
        detail = f"{train.format}; {train.valid} conversations{pics}" + (f"; converted {conv}" if conv else "")
        cl.add(sec, "format valid", "ok", detail)
    if train.warnings:
        lines = [p.render(rel) for p in train.warning_lines[:5]]
        cl.add(
            sec,
            "format warnings",
            "warn",
            ", ".join(f"{k} x{v}" for k, v in train.warnings.items()) + ("\n" + "\n".join(lines) if lines else ""),
            "tolerated; remove blank lines and save as UTF-8 without BOM to silence them",
        )
    if train.duplicates:
        detail = f"{train.duplicates} duplicate(s) in train{_first(train.duplicate_lines, rel, rel, 'repeats')}"
        fix = f"delete the repeated lines from {rel}, or remake the splits from one file (forge split --from FILE)"
        cl.add(sec, "no duplicates", "warn", detail, fix)
    if val is None:
        cl.add(
            sec,
            "val split present",
            "warn",
            "dataset.val_path is null: no eval loss, no gate",
            "set dataset.val_path to a held-out split",
        )
    elif not val.exists:
        cl.add(sec, "val split present", "fail", f"{vrel} not found", "split off a few percent of the data into it")
    elif val.fatal or val.counts:
        cl.add(sec, "val split valid", "fail", val.fatal_text() if val.fatal else val.render(10), val.fix_text())
    else:
        cl.add(sec, "val split present", "ok", f"{val.valid} conversations")
        if val.leaked:
            cl.add(
                sec,
                "no train/val leakage",
                "warn",
                f"{val.leaked} val row(s) also in train{_first(val.leaked_lines, vrel, rel, '=')}",
                "remove them from val, or eval loss will look better than it is",
            )
        if val.answers_in_train:
            cl.add(sec, "val answers unseen in train", "warn", _answers_line(val, vrel, rel), ANSWERS_FIX)


ANSWERS_FIX = (
    "the val scores then reward recalling train answers: make val of conversations whose answers train does not "
    "hold (forge split --from FILE does so from one file, docs/data-formats.md), unless they repeat on purpose"
)


def _first(pairs, left: str, right: str, verb: str) -> str:
    """' (first: a:12 repeats a:3, ...)' from [line, line] pairs, '' when none were listed."""
    shown = ", ".join(f"{left}:{a} {verb} {right}:{b}" for a, b in pairs[:3])
    return f" (first: {shown})" if shown else ""


def _answers_line(val, vrel: str, rel: str) -> str:
    """Val records whose assistant answer train holds word for word: counts, then the first lines."""
    pairs = ", ".join(f"{vrel}:{v} = {rel}:{t}" for v, t in val.answers_in_train_lines[:5])
    more = f" (first: {pairs})" if pairs else ""
    return (
        f"{val.answers_in_train} of {val.valid} val conversations have an answer found word for word in train "
        f"({val.answers_in_train_count} answers){more}"
    )


def _check_hardware(cl: Checklist, hw: HardwareInfo) -> None:
    sec = "Hardware Ready"
    cl.hardware = hw
    if not hw.torch_version:
        cl.add(sec, "PyTorch works", "fail", hw.problem or "torch missing", "pip install torch")
        return
    cuda = f", CUDA {hw.cuda_version}" if hw.cuda_version else ""
    cl.add(sec, "PyTorch works", "ok", f"torch {hw.torch_version}{cuda}")
    if hw.has_gpu:
        g = hw.gpus[0]
        more = f" (+{len(hw.gpus) - 1} more)" if len(hw.gpus) > 1 else ""
        free = f", {g.free_gb:g} GB free" if g.free_gb is not None else ""
        cl.add(sec, "GPU available", "ok", f"{g.name}, {g.vram_gb} GB{free}, bf16 {'yes' if g.bf16 else 'no'}{more}")
    else:
        cl.add(
            sec,
            "GPU available",
            "warn",
            f"{hw.problem}; forge falls back to the CPU (transformers+PEFT+TRL)",
            "CPU training suits tiny and small models (builtin:gemma-3-270m); use an NVIDIA GPU for real ones",
        )


def _check_resolved(
    project: Project, cl: Checklist, hw: HardwareInfo, request: TrainRequest, refused: ForgeError | None
) -> None:
    """The resolver's view of the run as configured: its refusals fail the items they belong to."""
    from forge.data.bound import char_bound
    from forge.models.facts import read_facts
    from forge.plan.measure import gather_stats, measure_problem
    from forge.plan.resolve import resolve

    cfg = cl.config
    facts = read_facts(cfg.model.name)
    stats = gather_stats(project, cfg, facts)
    p = resolve(cfg, stats, hw, facts=facts, as_configured=True, root=project.root)
    cl.plan = p
    started = _start_point(project, cfg, p, request, refused)
    failed = set()
    for r in p.refusals:
        sec, name = ITEMS.get(r.kind, ("Config Ready", r.kind))
        cl.add(sec, name, "fail", r.message, r.fix)
        failed.add(name)
    # without the model's files there is nothing to judge these by: not checked, never ticked
    unjudged = NEEDS_MODEL if "model found" in failed else set()
    skipped = f"not checked: {cfg.model.name} is not here (see 'model found')"
    for w in p.warnings:
        sec, name = ITEMS.get(w.kind, ("Config Ready", w.kind))
        if name not in failed:
            cl.add(sec, name, *(("skip", skipped, None) if name in unjudged else ("warn", w.message, w.fix or None)))
            failed.add(name)
    problem = measure_problem(stats, cfg)  # the template raised on examples, or the tokenizer failed
    if problem and "tokenizer fits the data" not in failed:
        cl.add("Data Ready", "tokenizer fits the data", *problem)
        failed.add("tokenizer fits the data")
    template = p.settings.get("dataset.chat_template")
    ok = {
        "enough samples": f"{stats.train_examples} samples (minimum {p.settings['dataset.min_samples'].value})",
        "chat template suits the model": f"{template.value}: {template.reason}" if template else "",
        "model suits the hardware": _memory_line(p, cfg, facts),
        "tokenizer fits the data": _fit_line(stats),
        "resume continues the run": started if request.resume else "",
    }
    for name, detail in ok.items():
        if name not in failed and detail and (name != "enough samples" or stats.train_examples):
            cl.add(ITEMS_BY_NAME[name], name, *(("skip", skipped) if name in unjudged else ("ok", detail)))
    bound = char_bound(cfg.model.max_seq_length)
    if stats.longest_chars > bound:
        cl.add(
            "Data Ready",
            "examples within max_seq_length",
            "warn",
            f"{cfg.dataset.path}:{stats.longest_line}: {stats.longest_chars:,} characters; examples beyond "
            f"{bound:,} (max_seq_length x 32) are cut to that before tokenization (training keeps the first "
            f"{cfg.model.max_seq_length} tokens either way)",
            "split or shorten such records",
        )


ITEMS_BY_NAME = {name: sec for sec, name in ITEMS.values()}
# the items judged by the model's own files (its template, tokenizer, size, layers, positions)
NEEDS_MODEL = {
    "chat template suits the model",
    "tokenizer fits the data",
    "model suits the hardware",
    "LoRA targets exist",
    "max_seq_length within the model",
}


class _Heard:
    """A logger for start_point that keeps what it says (check reports its warnings)."""

    def __init__(self):
        self.warnings: list[str] = []

    def warning(self, msg, *args, **kwargs) -> None:
        self.warnings.append(msg % args if args else msg)

    def info(self, msg, *args, **kwargs) -> None:
        pass


def _start_point(project: Project, cfg: ForgeConfig, p, request: TrainRequest, refused: ForgeError | None) -> str:
    """Train's own decision on where the run starts, with check's --resume and --force: the resume's
    config (`refused`, from forge.train.start.resumed_config), then forge.train.resume.start_point
    (an earlier run's checkpoints without --resume or --force; no valid checkpoint, or a run whose
    data, model or batch changed, on --resume), asked as a rank that is not the main one: it reads
    the folder and changes nothing in it. Its refusals join the plan's, its warnings too; returns the
    line of a --resume that would start."""
    from forge.plan.settings import Refusal
    from forge.train.checkpoints import list_checkpoints
    from forge.train.previous_run import PreviousRun
    from forge.train.resolved import fingerprint
    from forge.train.resume import start_point

    kind = "resume" if request.resume else "checkpoints"
    if refused is not None:
        p.refusals.append(Refusal(kind, "training.output_dir", refused.message, refused.fix or ""))
        return ""
    output_dir = project.path(cfg.training.output_dir)
    history = project.history_file
    fp = {}
    if request.resume:  # what the recipe compares with the run's (one process: the same effective batch)
        val = project.path(cfg.dataset.val_path) if cfg.dataset.val_path else None
        fp = fingerprint(cfg, project.path(cfg.dataset.path), val)
    heard = _Heard()
    try:
        sp = start_point(
            output_dir,
            history,
            resume=request.resume,
            force=request.force,
            fp=fp,
            log=heard,
            is_main=False,
            previous=PreviousRun(output_dir, history),
        )
    except ForgeError as e:  # with the checkpoints it skipped, which train logs before it
        detail = "\n".join([e.message, *heard.warnings])
        p.refusals.append(Refusal(kind, "training.output_dir", detail, e.fix or ""))
        return ""
    said = [message for level, message in getattr(cfg, "resume_notes", []) if level == "warning"]
    said += heard.warnings
    where = cfg.training.output_dir
    line = ""
    if request.resume and sp.checkpoint is not None:
        line = f"from {sp.checkpoint.path.name} (step {sp.checkpoint.step}) in {where}"
        notes = [message for level, message in getattr(cfg, "resume_notes", []) if level == "info"]
        line += "".join(f"\n{n}" for n in notes)
    elif not request.resume:
        complete = [c for c in list_checkpoints(output_dir) if c.complete]
        if complete:  # --force over an earlier run (without it start_point refused above)
            said.append(
                f"--force: {where} holds checkpoints of an earlier run (newest: {complete[-1].path.name}); train "
                "sets them aside and deletes them once the new run has its first complete checkpoint"
            )
    if said:
        detail = "\n".join(([line] if line else []) + said)
        fix = "drop --force and pass --resume to continue the earlier run" if not request.resume else ""
        p.warnings.append(Refusal(kind, "training.output_dir", detail, fix))
    return line


def _fit_line(stats) -> str:
    if not stats.text_tokens:
        return ""  # not measured with the model's tokenizer (or a refusal says why not)
    unk = f", {stats.unk_fraction:.1%} unknown" if stats.unk_tokens else ""
    return f"{stats.chars_per_token:.1f} characters a token{unk} ({stats.measured_with})"


def _memory_line(p, cfg: ForgeConfig, facts) -> str:
    if p.shape is None or p.memory is None:
        return f"{cfg.model.name}: size unknown"
    size = f"{p.shape.params / 1e9:.3g}B parameters ({'config.json' if facts.source == 'files' else 'by name'})"
    if p.budget_gb:
        return f"{cfg.model.name}: {size}; about {p.memory.total_gb:.1f} GB of a {p.budget_gb:.1f} GB budget"
    return f"{cfg.model.name}: {size}; about {p.memory.total_gb:.1f} GB of RAM on the CPU"


def run_checklist(
    project: Project,
    overrides: list[str] | None = None,
    hardware: HardwareInfo | None = None,
    config: Path | None = None,
    *,
    resume: bool = False,
    force: bool = False,
) -> Checklist:
    """`config`: the file `--config` names (default: the project's training-config.json); `resume`
    and `force`: `forge train --resume` / `--force`, the run whose start is checked."""
    from forge.train.start import TrainRequest

    request = TrainRequest(config=config, overrides=list(overrides or []), resume=resume, force=force)
    cl = Checklist()
    refused = _check_config(project, cl, request)
    _check_data(project, cl)
    if hardware is None:
        from forge.plan.hardware import probe

        hardware = probe()
    _check_hardware(cl, hardware)
    if cl.config is not None:
        _check_resolved(project, cl, hardware, request, refused)
    check_baseline(project, cl)
    order = {s: i for i, s in enumerate(SECTIONS)}
    cl.items.sort(key=lambda i: order.get(i.section, 99))
    return cl
