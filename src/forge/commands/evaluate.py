"""`forge baseline` and `forge evaluate`: score the base / fine-tuned model on the val split; the gate.

baseline -> metrics/baseline.json: the base model's scores, with what makes them comparable (the
model, the val file's sha256 and size, the settings). evaluate scores the fine-tuned adapter on
the same examples with the same settings, refuses a baseline made for another model, val file or
settings (it would compare unlike things), and writes metrics/evaluation.json with the baseline,
the fine-tuned scores, the deltas and the gate's verdict. Exit 0 when the gate passes, 3 when it
fails.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forge.errors import EXIT_GATE, EXIT_OK, EXIT_USAGE, ForgeError
from forge.project import Project

SCHEMA_VERSION = 1
# settings that must be equal for two score sets to be comparable
COMPARED_SETTINGS = ("max_seq_length", "generation_samples", "max_new_tokens", "chat_template")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(project: Project, overrides: list[str] | None):
    from forge.config import load_config

    cfg = load_config(project.config_file, overrides)
    if not cfg.dataset.val_path:
        raise ForgeError(
            "dataset.val_path is null: there is no val split to score",
            fix="set dataset.val_path to a held-out split (data/splits/val.jsonl)",
            exit_code=EXIT_USAGE,
        )
    val_path = project.path(cfg.dataset.val_path)
    if not val_path.exists():
        raise ForgeError(
            f"{cfg.dataset.val_path} not found",
            fix="split off a few percent of the data into data/splits/val.jsonl",
            exit_code=EXIT_USAGE,
        )
    from forge.data import load_conversations

    conversations = load_conversations(val_path)
    return cfg, val_path, conversations


def _identity(cfg, project: Project, val_path: Path, n: int) -> dict:
    from forge.files import sha256_file

    try:
        val_rel = str(val_path.relative_to(project.root))
    except ValueError:
        val_rel = str(val_path)
    return {
        "model": cfg.model.name,
        "val_file": val_rel,
        "val_sha256": sha256_file(val_path),
        "examples": n,
        "settings": {
            "max_seq_length": cfg.model.max_seq_length,
            "generation_samples": cfg.evaluation.generation_samples,
            "max_new_tokens": cfg.evaluation.max_new_tokens,
            "chat_template": cfg.dataset.chat_template,
        },
    }


def _score(cfg, conversations, *, adapter: Path | None = None) -> dict[str, Any]:
    from forge.evaluate.score import prepare_tokenizer, score_model
    from forge.models.loader import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(cfg.model)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    template = prepare_tokenizer(model, tokenizer, cfg.dataset.chat_template)
    scores = score_model(
        model,
        tokenizer,
        conversations,
        max_seq_length=cfg.model.max_seq_length,
        generation_samples=cfg.evaluation.generation_samples,
        max_new_tokens=cfg.evaluation.max_new_tokens,
    )
    scores["template"] = template
    scores["device"] = str(next(model.parameters()).device)
    return scores


def compute_baseline(project: Project, overrides: list[str] | None = None) -> dict:
    cfg, val_path, conversations = _load(project, overrides)
    ident = _identity(cfg, project, val_path, len(conversations))
    scores = _score(cfg, conversations)
    out = {"schema_version": SCHEMA_VERSION, "kind": "baseline", "created_at": _now(), **ident}
    out.update({k: scores[k] for k in ("val_loss", "perplexity", "token_f1", "exact_match")})
    out["scores"] = scores
    write_json_atomic(project.baseline_file, out)
    return out


def check_baseline(baseline: dict, ident: dict, baseline_file: Path) -> None:
    """Refuse a baseline made for another model, val file or settings (ForgeError, exit 2)."""
    problems = []
    if baseline.get("model") != ident["model"]:
        problems.append(f"model: baseline {baseline.get('model')!r}, now {ident['model']!r}")
    if baseline.get("val_sha256") != ident["val_sha256"]:
        problems.append(
            f"val file: baseline scored {baseline.get('val_file')} with sha256 {str(baseline.get('val_sha256'))[:12]}..., "
            f"now {ident['val_file']} has sha256 {ident['val_sha256'][:12]}..."
        )
    old = baseline.get("settings") or {}
    for key in COMPARED_SETTINGS:
        if key in old and old[key] != ident["settings"][key]:
            problems.append(f"{key}: baseline {old[key]!r}, now {ident['settings'][key]!r}")
    if problems:
        raise ForgeError(
            f"{baseline_file} was computed for something else, so the comparison would be meaningless:\n  - "
            + "\n  - ".join(problems),
            fix="run `forge baseline` again (it rescores the base model with the current model, val file and settings)",
            exit_code=EXIT_USAGE,
            kind="baseline_mismatch",
        )


def read_baseline(project: Project) -> dict:
    f = project.baseline_file
    if not f.exists():
        raise ForgeError(
            f"{f} not found: the gate compares against the base model's scores",
            fix="run `forge baseline` first",
            exit_code=EXIT_USAGE,
        )
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ForgeError(f"{f} is unreadable: {e}", fix="run `forge baseline` again", exit_code=EXIT_USAGE) from e


def compute_evaluation(project: Project, threshold: float | None = None, overrides: list[str] | None = None) -> dict:
    from forge.evaluate.gate import GENERATION_TOLERANCE, apply_gate

    cfg, val_path, conversations = _load(project, overrides)
    ident = _identity(cfg, project, val_path, len(conversations))
    baseline = read_baseline(project)
    check_baseline(baseline, ident, project.baseline_file)
    adapter = project.path(cfg.save.lora_path)
    if not (adapter / "adapter_config.json").exists():
        raise ForgeError(
            f"no LoRA adapter at {adapter} (adapter_config.json missing)",
            fix="run `forge train` first",
            exit_code=EXIT_USAGE,
        )
    trained_on = _trained_model(project)
    if trained_on and trained_on != cfg.model.name:
        raise ForgeError(
            f"the adapter in {adapter} was trained on {trained_on!r}, but model.name is {cfg.model.name!r}",
            fix="set model.name back, or run `forge train` and `forge baseline` for the new model",
            exit_code=EXIT_USAGE,
            kind="baseline_mismatch",
        )
    fine_tuned = _score(cfg, conversations, adapter=adapter)
    base_scores = {k: baseline.get(k) for k in ("val_loss", "perplexity", "token_f1", "exact_match")}
    ft_scores = {k: fine_tuned.get(k) for k in base_scores}
    thr = cfg.evaluation.gate_threshold if threshold is None else threshold
    if thr < 0:
        raise ForgeError("--threshold must be >= 0", fix="e.g. --threshold 0.05 (5% lower val loss)", exit_code=2)
    gate = apply_gate(base_scores, ft_scores, thr, GENERATION_TOLERANCE)
    out = {
        "schema_version": SCHEMA_VERSION,
        "kind": "evaluation",
        "created_at": _now(),
        **ident,
        "adapter": str(adapter.relative_to(project.root)) if adapter.is_relative_to(project.root) else str(adapter),
        "baseline": base_scores,
        "fine_tuned": ft_scores,
        "deltas": gate.deltas,
        "relative_improvement": gate.relative_improvement,
        "threshold": thr,
        "generation_tolerance": gate.tolerance,
        "verdict": gate.verdict,
        "passed": gate.passed,
        "reasons": gate.reasons,
        "checks": gate.notes,
        "fine_tuned_scores": fine_tuned,
    }
    gguf = _gguf_scores(project, conversations)
    if gguf is not None:
        out["gguf"] = gguf
    write_json_atomic(project.evaluation_file, out)
    return out


def _trained_model(project: Project) -> str | None:
    f = project.training_stats_file
    try:
        return json.loads(f.read_text(encoding="utf-8")).get("model") if f.exists() else None
    except (OSError, ValueError):
        return None


def _gguf_scores(project: Project, conversations) -> dict | None:
    """Optional: note a GGUF export when one exists; scoring it needs llama-cpp-python."""
    files = sorted(project.quantized_dir.glob("*.gguf")) if project.quantized_dir.exists() else []
    if not files:
        return None
    from importlib.util import find_spec

    if find_spec("llama_cpp") is None:
        return {"file": files[0].name, "scored": False, "note": "llama-cpp-python is not installed; GGUF not scored"}
    return {"file": files[0].name, "scored": False, "note": "GGUF scoring is not implemented yet"}


# --- the verbs ----------------------------------------------------------------------------------


def _print_scores(title: str, rows: list[tuple[str, dict]]) -> None:
    from rich.table import Table

    from forge.commands.console import console

    table = Table(title=title)
    table.add_column("model")
    for col in ("val loss", "perplexity", "token F1", "exact match"):
        table.add_column(col, justify="right")
    for name, s in rows:
        table.add_row(name, *(_fmt(s.get(k)) for k in ("val_loss", "perplexity", "token_f1", "exact_match")))
    console.print(table)


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def run_baseline(directory: Path | None, json_out: bool = False, overrides: list[str] | None = None) -> int:
    project = Project.at(directory)
    out = compute_baseline(project, overrides)
    if json_out:
        sys.stdout.write(json.dumps({k: v for k, v in out.items() if k != "scores"}, indent=2) + "\n")
        return EXIT_OK
    from rich.markup import escape

    from forge.commands.console import console

    console.print(f"[bold]forge baseline[/] {escape(str(project.root))}")
    _print_scores(f"{out['model']} on {out['val_file']} ({out['examples']} examples)", [("base", out)])
    _print_samples(out["scores"].get("samples", []))
    console.print(f"wrote {escape(str(project.baseline_file.relative_to(project.root)))}")
    return EXIT_OK


def _print_samples(samples: list[dict], n: int = 1) -> None:
    from rich.markup import escape

    from forge.commands.console import console

    for s in samples[:n]:
        console.print(f"[dim]sample[/] {escape(s['prompt'])}")
        console.print(f"  [dim]reference:[/] {escape(s['reference'])}")
        console.print(f"  [dim]generated:[/] {escape(s['generated'][:300])}")


def run_evaluate(
    directory: Path | None,
    threshold: float | None = None,
    json_out: bool = False,
    overrides: list[str] | None = None,
) -> int:
    project = Project.at(directory)
    out = compute_evaluation(project, threshold, overrides)
    code = EXIT_OK if out["passed"] else EXIT_GATE
    if json_out:
        sys.stdout.write(json.dumps({k: v for k, v in out.items() if k != "fine_tuned_scores"}, indent=2) + "\n")
        return code
    from rich.markup import escape

    from forge.commands.console import console

    console.print(f"[bold]forge evaluate[/] {escape(str(project.root))}")
    _print_scores(
        f"{out['model']} on {out['val_file']} ({out['examples']} examples)",
        [("base", out["baseline"]), ("fine-tuned", out["fine_tuned"])],
    )
    _print_samples(out["fine_tuned_scores"].get("samples", []))
    for line in out["checks"]:
        console.print(f"  [green]✓[/] {escape(line)}")
    for line in out["reasons"]:
        console.print(f"  [red]✗[/] {escape(line)}")
    if out["passed"]:
        console.print("[bold green]gate passed[/]")
    else:
        console.print("[bold red]gate failed[/]: " + escape("; ".join(out["reasons"])))
    console.print(f"wrote {escape(str(project.evaluation_file.relative_to(project.root)))}")
    return code
