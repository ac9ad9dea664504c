"""`forge export`: merged model and GGUF files from the saved adapter, verified.

An adapter that failed its evaluate gate is exported all the same (a user may want to try it),
with a warning line on stderr first; `--json` carries the verdict under `gate`
(forge.evaluate.verdict: `state` pass, fail, missing, stale or unreadable, `passed`, `detail`).
"""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_FAIL, EXIT_OK, ForgeError
from forge.project import Project


def run(
    directory: Path | None,
    merged: bool = False,
    gguf: str | None = None,
    json_out: bool = False,
    config: Path | None = None,
    overrides: list[str] | None = None,
    evaluate: bool = False,
) -> int:
    from forge.commands.console import print_json, print_notes
    from forge.config.gguf_types import CLI_OPTION, parse_gguf_types
    from forge.config.verb_config import load_verb_config
    from forge.export import ExportVerificationError, default_request, export_project

    project = Project.existing(directory)
    chosen = load_verb_config(project, config, overrides)  # no flags: the last run's, when elsewhere
    cfg = chosen.cfg
    print_notes(chosen.notes)
    # `--gguf ""` names no type: a usage error (exit 2), not "no --gguf" (the config's default export)
    types = parse_gguf_types(gguf, where=CLI_OPTION) if gguf is not None else []
    if not merged and not types:
        merged, types = default_request(cfg)

    # the quality verdict is the gate's (forge.evaluate.verdict): said before the work, never blocking it
    from forge.evaluate.verdict import gate_verdict

    gate = gate_verdict(project, project.outputs(cfg).lora)
    if gate.failed:
        from rich.markup import escape

        from forge.commands.console import err_console

        line = f"this adapter failed its evaluate gate ({gate.detail}); exporting it anyway"
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)

    console = None
    if not json_out:
        from rich.markup import escape

        from forge.commands.console import console

        what = ", ".join((["merged 16-bit"] if merged else []) + [t.upper() for t in types])
        console.print(f"[bold]forge export[/] {escape(str(project.root))}: {what}")

    from forge.progress_lines import for_output
    from forge.train.run_log import quiet_libraries

    quiet_libraries()  # transformers' \r bars ("Loading weights") would spill into a piped log
    beat = for_output("export", json_out)  # piped: a plain line every FORGE_PROGRESS_SECONDS

    def progress(msg: str) -> None:
        beat.update(what=msg)
        if console is not None:
            console.print(f"  [dim]·[/] {escape(msg)}", highlight=False)

    try:
        with beat:
            report = export_project(
                project, cfg, merged, types, progress=progress, notes=chosen.notes, gate_after=evaluate
            )
    except ExportVerificationError as e:
        if json_out:
            print_json("export", {**e.report.to_dict(), "gate": gate.to_dict()}, False)
            return EXIT_FAIL
        _print(console, e.report)
        raise
    except ForgeError:
        raise
    if not evaluate:
        if json_out:
            print_json("export", {**report.to_dict(), "gate": gate.to_dict()}, report.ok)
        else:
            _print(console, report)
        return EXIT_OK if report.ok else EXIT_FAIL
    if not json_out:
        _print(console, report)
    return _evaluate_exported(project, chosen, report, json_out, progress)


def _evaluate_exported(project: Project, chosen, report, json_out: bool, progress) -> int:
    """`--evaluate`: score every artifact this export wrote against the baseline, each with its gate
    (forge.evaluate.evaluation: the adapter's scores are reused when evaluate ran on this adapter)."""
    from forge.errors import EXIT_GATE
    from forge.evaluate.evaluation import compute_evaluation

    names = (["merged"] if report.merged and report.merged.get("kept") else []) + [
        f"gguf:{g['type'].lower()}" for g in report.gguf
    ]
    record = compute_evaluation(
        project,
        cfg=chosen.cfg,
        config_name=chosen.source.name(project),
        artifacts=names or ["adapter"],
        say=progress,
    )
    if json_out:
        from forge.commands.console import print_json

        print_json("export", {"ok": record.passed, "export": report.to_dict(), "evaluation": record.summary()}, True)
    else:
        from forge.commands.evaluate import print_evaluation

        print_evaluation(project, record)
    return EXIT_OK if record.passed else EXIT_GATE


def _print(console, report) -> None:
    from rich.markup import escape

    from forge.check.export_report import NOT_CHECKED, check_state
    from forge.export.disk import human

    console.print("\n[bold]verification[/]")
    for c in report.checks:
        mark = "[green]✓[/]" if c["ok"] else "[red]✗[/]"
        if check_state(c) == NOT_CHECKED:  # a check that did not run is never shown as passed
            mark = "[dim]– not checked:[/]"
        target = f"{c['target']}: " if c.get("target") else ""
        console.print(f"  {mark} {escape(target + c['name'])}: {escape(c['detail'])}", highlight=False)
    for note in report.notes:
        console.print(f"  [yellow]![/] {escape(note)}", highlight=False)
    if report.ok:
        console.print("\n[bold]written[/]")
        if report.merged and report.merged.get("kept"):
            console.print(
                f"  {escape(report.merged['path'])}  ({human(report.merged['bytes'])}, {report.merged['dtype']})"
            )
        for g in report.gguf + ([report.mmproj] if report.mmproj else []):
            console.print(f"  {escape(g['path'])}  ({human(g['bytes'])})")
        if report.modelfile:
            console.print(f"  {escape(report.modelfile)}")
        console.print("[bold green]export verified[/] (metrics/export-report.json)")
