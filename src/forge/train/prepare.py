"""The recipe's data steps: validate both splits before any model loads, then tokenize (torch-free
here; the tokenizer is the backend's).

Bad data should cost a second, not a model load: `validate_data` refuses with every bad line
(path:line) before the recipe touches a model. `tokenize` renders, masks and truncates through
forge.train.dataset and refuses when too many examples keep no trained token (a template or a
length problem); a val split the plan bounds is sampled deterministically (RunSettings.sample_val).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from forge.errors import EXIT_USAGE, ForgeError
from forge.project import Project
from forge.train.settings import RunSettings


@dataclass
class Splits:
    train_path: Path
    val_path: Path | None
    train_convs: list = field(default_factory=list)
    val_convs: list = field(default_factory=list)


@dataclass
class Tokenized:
    train: list[dict]
    report: object
    val: list[dict]
    val_total: int  # val examples before the plan's sample (== len(val) when not sampled)


def validate_data(project: Project, settings: RunSettings, log: logging.Logger) -> Splits:
    from forge.data.bound import char_bound
    from forge.data.reader import DataError
    from forge.data.validate import validate_file

    cfg = settings.cfg
    train_path = project.path(cfg.dataset.path)
    val_path = project.path(cfg.dataset.val_path) if cfg.dataset.val_path else None
    for path, key in ((train_path, "dataset.path"), (val_path, "dataset.val_path")):
        if path is None:
            continue
        if not path.exists():
            fix = "run the format step, or point dataset.path at your training file"
            if key == "dataset.val_path":
                fix = "split off a few percent of the data into it, or set dataset.val_path=null to train without eval"
            raise ForgeError(f"{key}: {path} not found", fix, exit_code=EXIT_USAGE, kind="data")
        rel = cfg.dataset.path if key == "dataset.path" else cfg.dataset.val_path
        report = validate_file(path, display=rel)  # errors name the split: data/splits/val.jsonl: ...
        if not report.ok:
            listed = f"fix or remove the {report.named()} named above; `forge check` lists every problem"
            fix = report.fix_text() if report.fatal else listed
            raise DataError(data_problem_text(rel, report), report, fix=fix)
        log.info("%s: %s", key, report.summary())
    # a record far beyond max_seq_length is cut before tokenization (forge.data.bound), path:line logged
    bound = char_bound(cfg.model.max_seq_length)
    splits = Splits(train_path, val_path, _load(train_path, cfg.dataset.path, bound, log))
    splits.val_convs = _load(val_path, cfg.dataset.val_path, bound, log) if val_path else []
    return splits


def _load(path: Path, rel: str, bound: int, log: logging.Logger) -> list:
    from forge.data import load_split

    convs, report = load_split(path, max_chars=bound, display=rel)
    for line, chars in report.cut_lines:
        log.warning(
            "%s:%d: %s characters cut to %s before tokenization (max_seq_length x 32)",
            rel,
            line,
            f"{chars:,}",
            f"{bound:,}",
        )
    return convs


def data_problem_text(path: Path | str, report) -> str:
    if getattr(report, "fatal", None):
        return report.fatal_text()
    counts = ", ".join(f"{k} x{v}" for k, v in (report.counts or {}).items())
    bad = sum((report.counts or {}).values())
    lines = [f"{path}: {bad} bad record(s) of {report.rows} ({counts or 'no usable conversations'})"]
    shown = report.problems[:20]
    lines += [p.render(path) for p in shown]
    if bad > len(shown):
        lines.append(f"... and {bad - len(shown)} more (`forge check --json` lists them)")
    return "\n".join(lines)


def tokenize(settings: RunSettings, tokenizer, splits: Splits, log: logging.Logger) -> Tokenized:
    from forge.train.dataset import render_masked_example, tokenize_conversations

    cfg = settings.cfg
    max_len = cfg.model.max_seq_length
    images = image_facts_for(cfg, splits)
    examples, report = tokenize_conversations(splits.train_convs, tokenizer, max_len, images=images)
    log.info("train split tokenized: %s", _summary(report))
    _say_drops(log, report, "train")
    # refuses (ForgeError) when too many examples keep no trained token: a template or length problem
    report.check(cfg.training.max_dropped_fraction)
    if not examples:
        raise ForgeError(
            "no training example keeps a trained token",
            "check dataset.chat_template and max_seq_length",
            kind="template_mismatch",
        )
    val_examples: list[dict] = []
    if splits.val_convs:
        val_examples, val_report = tokenize_conversations(splits.val_convs, tokenizer, max_len, images=images)
        log.info("val split tokenized: %s", _summary(val_report))
        _say_drops(log, val_report, "val")
        if not val_examples:
            log.warning("no val example keeps a trained token: training without eval")
    total = len(val_examples)
    val_examples = settings.sample_val(val_examples)
    if len(val_examples) < total:
        log.info(
            "eval on %d of %d val examples (a fixed sample, seed %d): the plan bounds the cost of each eval",
            len(val_examples),
            total,
            cfg.training.seed,
        )
    log.info("one training example, trained spans marked:\n%s", render_masked_example(examples[0], tokenizer))
    return Tokenized(examples, report, val_examples, total)


def image_facts_for(cfg, splits: Splits):
    """The processor's image facts where the data holds images (None for text-only data); a model
    whose processor forge cannot expand is refused (the resolver says the same before this)."""
    from forge.chat_images import images_of

    if not any(images_of(m) for m in (*splits.train_convs, *splits.val_convs)):
        return None
    from forge.models.facts import model_folder
    from forge.models.image_facts import from_folder

    facts, why = from_folder(model_folder(cfg.model.name)[0])
    if facts is None:
        raise ForgeError(
            f"the data holds images, and {why}",
            "use a vision-language model (e.g. builtin:tiny-gemma3-vlm, unsloth/gemma-3-4b-it) or drop the images",
            exit_code=EXIT_USAGE,
            kind="data",
        )
    return facts


def _say_drops(log: logging.Logger, report, split: str) -> None:
    """Dropped examples are a warning (the console shows warnings), each template error with its line."""
    line = report.drop_line(split) if hasattr(report, "drop_line") else None
    if line is None:
        return
    log.warning("%s", line)
    for extra in getattr(report, "error_lines", [])[1:]:
        log.warning("  %s", extra, extra={"console": False})


def _summary(report) -> str:
    return report.summary() if hasattr(report, "summary") else str(report)
