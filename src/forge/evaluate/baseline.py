"""`forge baseline`'s work: score the base model on the val split -> metrics/baseline.json.

Also what evaluate shares with it: loading the val split, the identity of a score set (model,
val file sha256, settings) and one scoring pass, so that both sides are measured the same way.

Whether a baseline can be gated against is decided in one place, `baseline_refusal` (the model,
the val file's sha256, the compared settings and, once known, the precision of the loaded
weights), and read through `usable_baseline`: `forge evaluate` refuses with its answer, `forge
check` reports it under Baseline Done, the web UI marks the baseline stale with it. Torch is
imported only inside `score_with` (through the model loader and score_model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge.clock import utcnow
from forge.errors import EXIT_FAIL, EXIT_USAGE, ForgeError
from forge.lock import writes_project
from forge.project import Project
from forge.records.base import RecordError, read_record, write_record
from forge.records.evaluate import COMPARED_SETTINGS, BaselineRecord, ScoreDetail, ScoredOn, ScoreSettings
from forge.runs_log import records_run


@dataclass
class ValSplit:
    cfg: Any  # forge.config.ForgeConfig, with the command line's --set applied
    path: Path
    conversations: list[list[dict]]


def load_val(project: Project, overrides: list[str] | None, cfg: Any = None) -> ValSplit:
    """The val split of `cfg` (the verb's, forge.config.verb_config), else of training-config.json + `overrides`."""
    from forge.config import load_config

    cfg = cfg if cfg is not None else load_config(project.config_file, overrides)
    val_path = val_file(project, cfg)
    from forge.data import load_conversations

    # the conversations know their lines (data/splits/val.jsonl:12), for errors that name one
    return ValSplit(cfg, val_path, load_conversations(val_path, display=cfg.dataset.val_path))


def val_file(project: Project, cfg: Any) -> Path:
    """The val split baseline and evaluate score (dataset.val_path); ForgeError (exit 2) when there is none."""
    if not cfg.dataset.val_path:
        raise ForgeError(
            "dataset.val_path is null: there is no val split to score",
            fix="set dataset.val_path to a held-out split (data/splits/val.jsonl)",
            exit_code=EXIT_USAGE,
            kind="val_split",
        )
    val_path = project.path(cfg.dataset.val_path)
    if not val_path.exists():
        raise ForgeError(
            f"{cfg.dataset.val_path} not found",
            fix="split off a few percent of the data into data/splits/val.jsonl",
            exit_code=EXIT_USAGE,
            kind="val_split",
        )
    return val_path


def scored_on(project: Project, val: ValSplit) -> ScoredOn:
    return score_identity(project, val.cfg, val.path, examples=len(val.conversations))


def score_identity(
    project: Project, cfg: Any, val_path: Path, *, examples: int | None = None, val_sha256: str | None = None
) -> ScoredOn:
    """What a score set of `cfg` on `val_path` is scored on: the model, the val file and its sha256, the
    settings (torch-free; `examples` is informational, `val_sha256` a hash the caller already has)."""
    from forge.files import sha256_file

    try:
        val_rel = str(val_path.relative_to(project.root))
    except ValueError:
        val_rel = str(val_path)
    return ScoredOn(
        model=cfg.model.name,
        val_file=val_rel,
        val_sha256=val_sha256 or sha256_file(val_path),
        examples=examples,
        settings=ScoreSettings(
            max_seq_length=cfg.model.max_seq_length,
            generation_samples=cfg.evaluation.generation_samples,
            max_new_tokens=cfg.evaluation.max_new_tokens,
            chat_template=cfg.dataset.chat_template,
            dtype=cfg.model.dtype,
            load_in_4bit=cfg.model.load_in_4bit,
            load_in_fp8=cfg.model.load_in_fp8,
        ),
    )


def score_with(val: ValSplit, *, adapter: Path | None = None) -> ScoreDetail:
    """One scoring pass of the base model, or of the base model with `adapter` on it (torch)."""
    from forge.evaluate.score import prepare_tokenizer, score_model
    from forge.models.loader import load_model_and_tokenizer

    cfg = val.cfg
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    precision = loaded_precision(model)
    if adapter is not None:
        model = apply_adapter(model, adapter, cfg.model.name)
    template = prepare_tokenizer(model, tokenizer, cfg.dataset.chat_template)
    from forge.evaluate.score_images import image_inputs

    images, image_processor = image_inputs(cfg, val.conversations)
    scores = score_model(
        model,
        tokenizer,
        val.conversations,
        max_seq_length=cfg.model.max_seq_length,
        generation_samples=cfg.evaluation.generation_samples,
        max_new_tokens=cfg.evaluation.max_new_tokens,
        images=images,
        image_processor=image_processor,
    )
    scores["template"] = template
    scores["device"] = str(next(model.parameters()).device)
    scores["precision"] = precision
    return ScoreDetail.model_validate(scores)


def apply_adapter(model, adapter: Path, model_name: str):
    """The base model with the LoRA adapter in `adapter` on it, for inference (torch)."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except Exception as e:  # past check_adapter's header checks: tensors that fit no module of the base
        raise ForgeError(
            f"the adapter in {adapter} cannot be applied to {model_name}: {type(e).__name__}: {str(e)[:400]}",
            fix="the adapter file is damaged or belongs to another base model: re-run `forge train`",
            exit_code=EXIT_FAIL,  # as export's merge says it: a damaged output of train, not ready
            kind="adapter_corrupt",
        ) from None


LOAD_FLAGS = ("load_in_4bit", "load_in_fp8")  # config keys that may not change the loaded precision


def loaded_precision(model) -> str:
    """The base weights' precision as loaded: "float32", "bfloat16", or "nf4/bfloat16" (4-bit)."""
    dtype = str(model.dtype).removeprefix("torch.")
    return f"nf4/{dtype}" if getattr(model, "is_loaded_in_4bit", False) else dtype


@writes_project("baseline")  # one writer per project (forge.lock)
@records_run("baseline")  # metrics/runs.jsonl
def compute_baseline(project: Project, overrides: list[str] | None = None, *, cfg: Any = None) -> BaselineRecord:
    val = load_val(project, overrides, cfg)
    record = BaselineRecord.build(scored_on(project, val), score_with(val), created_at=utcnow())
    write_record(project.baseline_file, record)
    return record


def read_baseline(project: Project) -> BaselineRecord:
    """metrics/baseline.json; ForgeError naming the fix when it is missing (kind "baseline_missing")
    or unreadable (kind "record"): exit 1, as for a missing adapter (an earlier step's output is not
    there, forge.errors)."""
    f = project.baseline_file
    if not f.exists():
        raise ForgeError(
            f"{f} not found: the gate compares against the base model's scores",
            fix="run `forge baseline` first",
            exit_code=EXIT_FAIL,
            kind="baseline_missing",
            file=str(f),
        )
    try:
        return read_record(f, BaselineRecord)
    except RecordError as e:
        raise ForgeError(e.message, fix=e.fix, exit_code=EXIT_FAIL, kind="record", file=e.file, line=e.line) from None


REBASE = "run `forge baseline` again (it rescores the base model with the current model, val file and settings)"


def baseline_refusal(
    baseline: BaselineRecord, now: ScoredOn, baseline_file: Path, *, precision: str | None = None
) -> ForgeError | None:
    """Why `baseline` cannot be gated against for scores of `now` (ForgeError, exit 2, kind
    "baseline_mismatch"), or None: the one rule evaluate, check and the web UI apply.

    Compared: the model, the val file's sha256, the settings the baseline recorded (an older file
    without one is not refused for it) and, when `precision` is given, the precision the weights
    load in. model.dtype null means the device's default (float32 on CPU, bfloat16 on most GPUs), so
    equal settings can still load unlike weights (a baseline made on another machine): evaluate
    passes the precision its loaded model has, check the one this machine would load; a baseline of
    an older forge records none and is not refused for it.
    """
    problems = []
    if baseline.model != now.model:
        problems.append(f"model: baseline {baseline.model!r}, now {now.model!r}")
    if baseline.val_sha256 != now.val_sha256:
        problems.append(
            f"val file: baseline scored {baseline.val_file} with sha256 {baseline.val_sha256[:12]}..., "
            f"now {now.val_file} has sha256 {now.val_sha256[:12]}..."
        )
    old = baseline.settings.model_dump(exclude_unset=True)
    new = now.settings.model_dump()
    before = baseline.scores.precision
    # where both precisions are known they say how the weights loaded; the flags behind them can
    # differ without effect (load_in_4bit on a CPU, which `plan --write` turns off there: a CPU
    # baseline was refused as "load_in_4bit: baseline True, now False", both float32)
    by_precision = before is not None and precision is not None
    for key in COMPARED_SETTINGS:
        if by_precision and key in LOAD_FLAGS:
            continue
        if key in old and old[key] != new[key]:
            problems.append(f"{key}: baseline {old[key]!r}, now {new[key]!r}")
    fix = REBASE
    if before is not None and precision is not None and before != precision:
        problems.append(
            f"precision of the loaded weights: baseline {before}, now {precision} (model.dtype null loads the "
            "device's default)"
        )
        fix += ", or set model.dtype to the baseline's precision"
    if not problems:
        return None
    return ForgeError(
        f"{baseline_file} was computed for something else, so the comparison would be meaningless:\n  - "
        + "\n  - ".join(problems),
        fix=fix,
        exit_code=EXIT_USAGE,
        kind="baseline_mismatch",
    )


def check_baseline(
    baseline: BaselineRecord, now: ScoredOn, baseline_file: Path, *, precision: str | None = None
) -> None:
    """Refuse a baseline made for another model, val file, settings or precision (baseline_refusal)."""
    refused = baseline_refusal(baseline, now, baseline_file, precision=precision)
    if refused is not None:
        raise refused


def usable_baseline(
    project: Project, cfg: Any, *, now: ScoredOn | None = None, precision: str | None = None
) -> BaselineRecord:
    """metrics/baseline.json when `forge evaluate` can gate against it for `cfg` (its model, val
    file and settings; `now`: their identity when the caller has it) and, when given, `precision`.
    ForgeError naming the fix otherwise (exit 1 for a missing or unreadable file, 2 else), of kind "baseline_missing", "record" (unreadable),
    "val_split" (no val split to score) or "baseline_mismatch". Torch-free."""
    baseline = read_baseline(project)
    if now is None:
        now = score_identity(project, cfg, val_file(project, cfg))
    check_baseline(baseline, now, project.baseline_file, precision=precision)
    return baseline
