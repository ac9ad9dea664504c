"""`forge plan [DIR] [--write] [--json] [--vram-gb N]`: gather the inputs, call the resolver
(forge.plan.resolve), show or write the answer.

The data's token lengths come from forge.plan.measure, with the tokenizer of the model the plan
is for (forge.plan.for_plan), the model's shape and template from its files (forge.models.facts).
Without --write nothing on disk changes. With --write, training-config.json gets the plan's values
and this call's --set values; the user's own values are kept, and the answer lists each value it
changed and each it kept, with the reason. Which values are the user's comes from the record of
what forge wrote (.factory/plan.json: forge.plan.choices), never from equality with a default.
"""

from __future__ import annotations

import json
from pathlib import Path

from forge.errors import EXIT_OK, EXIT_USAGE, ForgeError
from forge.hints import name_folder
from forge.lock import writes_project
from forge.project import Project


def explicit_from_files(raw: dict, overrides: list[str], record: dict | None) -> set[str]:
    """Keys the user chose (forge.plan.choices.user_choices: from the record of what forge wrote,
    not from equality with the template's defaults); `record`: PlanRecord fields, or None."""
    from forge.plan.choices import user_choices
    from forge.records.plan import PlanRecord

    return set(user_choices(raw, PlanRecord(**record) if record else None, overrides))


def require_project(project: Project, config_file: Path) -> None:
    """A folder `forge init` (or the format step) made: plan never plans, nor writes, a typo."""
    if not project.root.is_dir():
        raise ForgeError(f"{project.root} is not a folder", "run `forge init DIR` first", exit_code=EXIT_USAGE)
    if not (config_file.exists() or project.train_file.exists() or project.factory_dir.is_dir()):
        raise ForgeError(
            f"{project.root} is not a forge project: no {config_file.name}, no data/splits/train.jsonl",
            "run `forge init DIR` there first, or name the project folder: forge plan DIR",
            exit_code=EXIT_USAGE,
        )


def gather(project: Project, overrides: list[str], config: Path | None = None):
    """(config, raw file dict, explicit keys, DataStats, ModelFacts) for a project folder;
    `config`: the file --config names (forge.config.config_path), else training-config.json."""
    from forge.config import config_path, load_config_dict
    from forge.config.load import validate_layers
    from forge.models.facts import read_facts
    from forge.plan.measure import gather_stats

    path = config_path(project.root, config)
    raw = load_config_dict(path)
    cfg = validate_layers(raw, path, overrides)  # a bad --set is named as one, not as the file's
    explicit = set(yours(project, raw, overrides, path))
    facts = read_facts(cfg.model.name)
    return cfg, raw, explicit, gather_stats(project, cfg, facts), facts


def yours(project: Project, raw: dict, overrides: list[str], path: Path) -> dict[str, str]:
    """section.key -> why it is the user's, from the record of what forge wrote into `path`."""
    from forge.plan.choices import read_record, user_choices

    return user_choices(raw, read_record(project, path), overrides, path.name)


@writes_project("plan --write")  # one writer per project (forge.lock)
def write_plan(
    project: Project, raw: dict, result, target: Path | None = None, overrides: list[str] | None = None, mine=None
):
    """Write the plan (and this call's --set values) into training-config.json or the --config
    file, the user's other values untouched; record which values are forge's from now on.
    Returns the WriteReport (forge.plan.for_plan): what changed, what was kept, and why."""
    from forge.files import atomic_write_text
    from forge.plan.choices import record_after_write, record_path
    from forge.plan.for_plan import planned_file, write_report
    from forge.records.base import write_record

    target = target or project.config_file
    mine = mine if mine is not None else yours(project, raw, overrides or [], target)
    new = planned_file(result, raw, overrides or [])
    atomic_write_text(target, json.dumps(new, indent=2) + "\n")
    project.factory_dir.mkdir(parents=True, exist_ok=True)
    write_record(record_path(project, target), record_after_write(new, mine))
    return write_report(target.name, result, raw, new, mine)


def run(
    directory: Path | None,
    write: bool = False,
    json_out: bool = False,
    overrides: list[str] | None = None,
    hardware=None,
    vram_gb: float | None = None,
    config: Path | None = None,
) -> int:
    from forge.config import config_path
    from forge.plan.data_check import data_refusals
    from forge.plan.for_plan import name_yours, plan_project

    project = Project.existing(directory)
    target = config_path(project.root, config)
    require_project(project, target)
    overrides = overrides or []
    cfg, raw, explicit, stats, facts = gather(project, overrides, config)
    if hardware is None:
        from forge.plan.hardware import probe

        hardware = probe()
    mine = yours(project, raw, overrides, target)
    result = plan_project(project, cfg, hardware, explicit, stats=stats, facts=facts, vram_gb=vram_gb)
    name_yours(result, mine)
    from forge.plan.choices import legacy_note, read_record

    legacy = legacy_note(read_record(project, target), target.name) if raw else None
    if legacy:
        result.notes.append(legacy)
    bad_data = data_refusals(project, cfg)
    result.refusals[:0] = bad_data  # first: every other number of this plan assumed no data
    if write and bad_data:
        # values planned over data that train refuses would be values planned for 0 examples
        first = bad_data[0]
        raise ForgeError(
            f"plan --write: nothing written; {first.message}", first.fix or "fix the data", exit_code=EXIT_USAGE
        )
    report = write_plan(project, raw, result, target, overrides, mine) if write else None
    for r in result.refusals:  # their command hints name this folder (forge.hints), printed or --json
        r.fix = name_folder(r.fix, project.root)
    result.notes = [name_folder(n, project.root) for n in result.notes]
    if json_out:
        out = result.to_dict()
        out["project"] = str(project.root)
        out["written"] = report is not None
        out["write"] = report.to_dict() if report else None
        out["yours"] = mine
        from forge.commands.console import print_json

        print_json("plan", out, bool(out.get("ready", True)))
        return EXIT_OK
    _print(project, result, report, target.name)
    return EXIT_OK


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v) if not isinstance(v, str) else v


def _measured(d: dict) -> str:
    """Which tokenizer measured the data: the planned model's, or none (then the estimate says so)."""
    how, model = d.get("measured_with") or "", d.get("measured_for")
    if not model or how.startswith("tokenizer of") or how == "none":
        return how
    return f"{how}: no tokenizer of {model}, the planned model, to measure with"


def _print(project: Project, result, report, file_name: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from forge.commands.console import console

    console.print(f"[bold]forge plan[/] {escape(str(project.root))}")
    console.print(f"hardware: {escape(result.hardware)}; backend: {result.backend}")
    d = result.data
    console.print(
        f"data: {d['train_examples']} train / {d['val_examples']} val examples; tokens mean {d['tokens_mean']}, "
        f"p99 {d['tokens_p99']}, max {d['tokens_max']} ({escape(_measured(d))})"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("source")
    table.add_column("why", overflow="fold")
    for key, s in result.settings.items():
        src = "[green]plan[/]" if s.source == "plan" else "[cyan]yours[/]"
        table.add_row(key, escape(_fmt(s.value)), src, escape(s.reason))
    console.print(table)
    m = result.memory
    if m:
        console.print(
            f"memory estimate: [bold]{m.total_gb:.1f} GB[/] = weights {m.weights_gb:.1f} + LoRA {m.lora_gb:.2f} "
            f"+ optimizer {m.optimizer_gb:.2f} + activations {m.activations_gb:.1f} + logits {m.logits_gb:.1f} "
            f"+ overhead {m.overhead_gb:.1f}"
            + (f" - {m.shared_gb:.1f} logits and recompute never together" if m.shared_gb else "")
            + f" ({m.tokens_per_micro_batch} tokens per micro-batch)"
        )
    from forge.plan.explain import minutes

    tps = f"{result.tokens_per_second:,.0f} tokens/s" if result.tokens_per_second else "speed unknown"
    console.print(
        f"steps: {result.total_steps} ({result.steps_per_epoch} per epoch); {result.examples_per_step:.0f} examples, "
        f"{result.effective_batch_tokens} tokens per optimizer step; {tps}; time {minutes(result.seconds_range)}"
    )
    if result.seconds_range and result.seconds_range[1] > result.seconds_range[0]:
        load = result.hardware_load
        console.print(
            "  [dim]CPU time: the low end on an idle CPU; the high end at the load now"
            + (f" (load average {load:g})" if load is not None else "")
            + ": other processes on these cores slow training down[/]"
        )
    for n in result.notes:
        console.print(f"[yellow]![/] {escape(n)}")
    for r in result.refusals:  # what `forge train` would stop with, as check says it
        console.print(f"[red]✗[/] {escape(r.message)}")
        if r.fix:
            console.print(f"    [dim]fix:[/] {escape(r.fix)}")
    if report is None:
        hint = name_folder(f"nothing written; `forge plan --write` puts these values into {file_name}", project.root)
        console.print(f"[dim]{escape(hint)}[/]")
        return
    console.print(
        f"[green]wrote[/] {escape(report.file)}: {len(report.changed)} value(s) changed, {len(report.kept)} of yours "
        f"kept, {len(report.unchanged)} already the plan's"
    )
    for c in report.changed:
        old = "(absent)" if c["absent"] else _fmt(c["old"])
        console.print(f"  [green]changed[/] {c['key']}: {escape(old)} -> {escape(_fmt(c['new']))} ({escape(c['why'])})")
    for k in report.kept:
        other = f"; the plan would write {_fmt(k['plan'])}" if k["plan"] != k["value"] else ""
        console.print(
            f"  [cyan]kept[/] {k['key']} = {escape(_fmt(k['value']))}: yours ({escape(k['why'])}){escape(other)}"
        )
    if report.kept:
        console.print("  [dim]a value is yours once you set it: docs/configuration.md, 'Pinning a value'[/]")
