"""`forge baseline` and `forge evaluate`: call forge.evaluate, print the scores and the gate.

baseline -> metrics/baseline.json (forge.evaluate.baseline); evaluate -> metrics/evaluation.json
(forge.evaluate.evaluation). Exit 0 when the gate passes, 3 when it fails; 1 for a missing or
damaged baseline or adapter (an earlier step's output: run it), 2 for one that contradicts the
config (made for another model, val file or settings) and for a bad config or --set.

Both take --config and --set (forge.config.verb_config): baseline reads training-config.json without them,
evaluate the config of the last run when that run put its adapter elsewhere. `--json` prints the
record the verb wrote, key for key (the file's own serialisation).
"""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_GATE, EXIT_OK
from forge.project import Project
from forge.records.evaluate import HEADLINE, BaselineRecord, EvaluationRecord, Sample, headline_sample


def run_baseline(
    directory: Path | None,
    json_out: bool = False,
    overrides: list[str] | None = None,
    config: Path | None = None,
) -> int:
    from forge.commands.console import print_json, print_notes
    from forge.config.verb_config import load_verb_config
    from forge.evaluate.baseline import compute_baseline

    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides, follow_last_run=False)  # the base model: the next run's
    print_notes(chosen.notes)
    from forge.progress_lines import for_output
    from forge.train.run_log import quiet_libraries

    quiet_libraries()  # transformers' \r bars ("Loading weights") would spill into a piped log
    with for_output("baseline", json_out) as beat:  # piped: a plain line every FORGE_PROGRESS_SECONDS
        beat.update(phase="scoring the base model")
        record = compute_baseline(project, cfg=chosen.cfg)
    if json_out:
        print_json("baseline", record.to_data(), True)
    else:
        print_baseline(project, record)
    return EXIT_OK


def run_evaluate(
    directory: Path | None,
    threshold: float | None = None,
    json_out: bool = False,
    overrides: list[str] | None = None,
    config: Path | None = None,
) -> int:
    from forge.commands.console import print_json, print_notes
    from forge.config.verb_config import load_verb_config
    from forge.evaluate.evaluation import compute_evaluation

    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides)  # no flags: the last run's, when elsewhere
    print_notes(chosen.notes)
    from forge.progress_lines import for_output
    from forge.train.run_log import quiet_libraries

    quiet_libraries()  # transformers' \r bars ("Loading weights") would spill into a piped log
    with for_output("evaluate", json_out) as beat:  # piped: a plain line every FORGE_PROGRESS_SECONDS
        beat.update(phase="scoring the fine-tuned model")
        record = compute_evaluation(project, threshold, cfg=chosen.cfg, config_name=chosen.source.name(project))
    if json_out:
        print_json("evaluate", record.to_data(), record.passed)
    else:
        print_evaluation(project, record)
    return EXIT_OK if record.passed else EXIT_GATE


# --- printing -----------------------------------------------------------------------------------


def print_baseline(project: Project, record: BaselineRecord) -> None:
    from rich.markup import escape

    from forge.commands.console import console

    console.print(f"[bold]forge baseline[/] {escape(str(project.root))}")
    _print_scores(_title(record), [("base", record.headline().headline())])
    _print_samples(record.scores.samples)
    console.print(f"wrote {escape(str(project.baseline_file.relative_to(project.root)))}")


def print_evaluation(project: Project, record: EvaluationRecord) -> None:
    from rich.markup import escape

    from forge.commands.console import console

    console.print(f"[bold]forge evaluate[/] {escape(str(project.root))}")
    _print_scores(_title(record), [("base", record.baseline.headline()), ("fine-tuned", record.fine_tuned.headline())])
    _print_samples(record.fine_tuned_scores.samples)
    for line in record.checks:
        console.print(f"  [green]✓[/] {escape(line)}")
    for line in record.reasons:
        console.print(f"  [red]✗[/] {escape(line)}")
    if record.passed:
        console.print("[bold green]gate passed[/]")
    else:
        console.print("[bold red]gate failed[/]: " + escape("; ".join(record.reasons)))
    if record.adapter_note:  # last, beside the verdict it qualifies
        console.print(f"[yellow]note[/]: {escape(record.adapter_note)}")
    console.print(f"wrote {escape(str(project.evaluation_file.relative_to(project.root)))}")


def _title(record: BaselineRecord | EvaluationRecord) -> str:
    # all of them, where train's eval loss may have scored a sample (training-stats.json: eval_loss_scope)
    return f"{record.model} on {record.val_file} (all {record.examples} val examples)"


def _print_scores(title: str, rows: list[tuple[str, dict]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from forge.commands.console import console

    table = Table(title=escape(title))
    table.add_column("model")
    for _, label in HEADLINE:
        table.add_column(label, justify="right")
    for name, scores in rows:
        table.add_row(name, *(_fmt(scores.get(key)) for key, _ in HEADLINE))
    console.print(table)


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def _print_samples(samples: list[Sample]) -> None:
    """One sample, right or said to be wrong (forge.records.evaluate.headline_sample)."""
    from rich.markup import escape

    from forge.commands.console import console

    s, label = headline_sample(samples)
    if s is None:
        return
    colour = "green" if label.startswith("right") else "yellow"
    console.print(f"[dim]sample[/] [{colour}]({escape(label)})[/] {escape(s.prompt)}")
    console.print(f"  [dim]reference:[/] {escape(s.reference)}")
    console.print(f"  [dim]generated:[/] {escape(s.generated[:300])}")
