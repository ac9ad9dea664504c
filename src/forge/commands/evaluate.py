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
from typing import List, Optional

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


def evaluate_verb(run_verb, dir_arg, json_opt, config_opt, set_opt):
    """The typer command of `forge evaluate` (forge.cli registers it): run_verb is forge.cli's _run."""
    import typer

    def evaluate(
        directory: Optional[Path] = dir_arg,  # noqa: UP045 (typer reads the annotation)
        threshold: Optional[float] = typer.Option(
            None, "--threshold", help="Relative val-loss improvement the gate needs."
        ),  # noqa: UP045
        artifact: Optional[str] = typer.Option(None, "--artifact", help="adapter (default), merged, gguf:TYPE or all."),  # noqa: UP045
        json_out: bool = json_opt,
        config: Optional[Path] = config_opt,  # noqa: UP045
        set_: Optional[List[str]] = set_opt,  # noqa: UP006, UP045
    ) -> None:
        """Score the fine-tuned model (or a shipped artifact), compare with the baseline, gate each (exit 3 on a fail)."""
        run_verb(
            run_evaluate, directory, threshold, artifact=artifact, json_out=json_out, config=config, overrides=set_
        )

    return evaluate


def run_evaluate(
    directory: Path | None,
    threshold: float | None = None,
    json_out: bool = False,
    overrides: list[str] | None = None,
    config: Path | None = None,
    artifact: str | None = None,
) -> int:
    from forge.commands.console import print_json, print_notes
    from forge.config.verb_config import load_verb_config
    from forge.evaluate.artifacts import parse_artifact
    from forge.evaluate.evaluation import compute_evaluation

    names = parse_artifact(artifact)  # a typo is refused before the config or a model loads
    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides)  # no flags: the last run's, when elsewhere
    print_notes(chosen.notes)
    from forge.progress_lines import for_output
    from forge.train.run_log import quiet_libraries

    quiet_libraries()  # transformers' \r bars ("Loading weights") would spill into a piped log
    with for_output("evaluate", json_out) as beat:  # piped: a plain line every FORGE_PROGRESS_SECONDS
        beat.update(phase="scoring the fine-tuned model")
        record = compute_evaluation(
            project,
            threshold,
            cfg=chosen.cfg,
            config_name=chosen.source.name(project),
            artifacts=names,
            say=None if json_out else _say,
        )
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
    print_artifact_table(record)
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


def _say(msg: str) -> None:
    from rich.markup import escape

    from forge.commands.console import console

    console.print(f"  [dim]·[/] {escape(msg)}", highlight=False)


def print_artifact_table(record: EvaluationRecord) -> None:
    """Baseline vs fine-tuned: one row per model (the base, the adapter, each artifact evaluated),
    with the share of the adapter's gain each artifact lost and its own gate verdict."""
    from rich.markup import escape
    from rich.table import Table

    from forge.commands.console import console
    from forge.records.evaluate import TOOL_CALL_SCORES

    rows = record.rows()
    calls = any(r.tool_calls for r in rows)
    table = Table(title=escape(_title(record)))
    table.add_column("model")
    for _, label in HEADLINE:
        table.add_column(label, justify="right")
    if calls:
        for _, label in TOOL_CALL_SCORES:
            table.add_column(label.removeprefix("tool call: "), justify="right")
    table.add_column("gain lost", justify="right")
    table.add_column("gate")
    base_calls = [_fmt((record.baseline_tool_calls or {}).get(k)) for k, _ in TOOL_CALL_SCORES] if calls else []
    table.add_row("base", *(_fmt(v) for v in record.baseline.headline().values()), *base_calls, "", "")
    for r in rows:
        name = "fine-tuned (adapter)" if r.artifact == "adapter" else r.artifact
        extra = [_fmt((r.tool_calls or {}).get(k)) for k, _ in TOOL_CALL_SCORES] if calls else []
        lost = "-" if r.gain_lost is None or r.artifact == "adapter" else f"{r.gain_lost:.1%}"
        verdict = "[green]pass[/]" if r.passed else "[red]fail[/]"
        table.add_row(escape(name), *(_fmt(r.scores.get(k)) for k, _ in HEADLINE), *extra, lost, verdict)
    console.print(table)
    for r in rows:
        if r.template_parity is not None:
            mark = "[green]✓[/]" if r.template_parity.ok else "[red]✗[/]"
            console.print(f"  {mark} {escape(r.artifact)} template parity: {escape(r.template_parity.detail)}")


def print_columns(record: EvaluationRecord, title: str = "Baseline vs fine-tuned") -> None:
    """The web UI's "Baseline vs fine-tuned" table: a row per metric, a column per model (the base,
    the adapter, each artifact evaluated), the gate's verdict in the last row."""
    from rich.markup import escape
    from rich.table import Table

    from forge.commands.console import console

    rows = record.rows()
    table = Table(title=escape(title))
    table.add_column("metric")
    table.add_column("baseline", justify="right")
    for r in rows:
        table.add_column("fine-tuned (adapter)" if r.artifact == "adapter" else escape(r.artifact), justify="right")
    by = {r.artifact: r for r in rows}
    for line in record.comparison():
        values = [line["evaluation"] if r.artifact == "adapter" else line["artifacts"].get(r.artifact) for r in rows]
        table.add_row(escape(line["label"]), _fmt(line["baseline"]), *(_fmt(v) for v in values))
    lost = ["-" if r.gain_lost is None or r.artifact == "adapter" else f"{r.gain_lost:.1%}" for r in rows]
    table.add_row("gain lost", "", *lost)
    table.add_row("gate", "", *("[green]pass[/]" if by[r.artifact].passed else "[red]fail[/]" for r in rows))
    console.print(table)


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
