"""`forge plan [DIR] [--write] [--json] [--vram-gb N]`: gather the inputs, call the resolver
(forge.plan.resolve), show or write the answer.

The data's token lengths come from forge.plan.measure, the model's shape and template from its
files (forge.models.facts). Without --write nothing on disk changes. With --write,
training-config.json gets the plan's values; keys the user set are kept. What --write wrote is
remembered in .factory/plan.json so that a later plan can tell its own values from the user's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from forge.errors import EXIT_OK, EXIT_USAGE, ForgeError
from forge.lock import writes_project
from forge.project import Project

PLAN_RECORD = "plan.json"


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if k == "$schema":
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not prefix:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def explicit_from_files(raw: dict, overrides: list[str], record: dict | None) -> set[str]:
    """Keys the user chose: given by --set, or in the file with a value of their own.

    A file value equal to the original template's default is not a choice (`forge init` writes
    every default), nor is a value an earlier `--write` put there and nobody changed since. To pin
    a default value, pass it with --set.
    """
    from forge.config import default_config_dict, parse_override

    defaults = _flatten(default_config_dict())
    written = (record or {}).get("written", {})
    explicit = set()
    for key, value in _flatten(raw).items():
        if key in written and written[key] == value:
            continue  # the plan's own value from an earlier --write
        if key in defaults and defaults[key] == value:
            continue
        explicit.add(key)
    for item in overrides:
        parts, _ = parse_override(item)
        explicit.add(".".join(parts))
    return explicit


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
    from forge.config import apply_overrides, config_path, load_config_dict, validate_dict
    from forge.models.facts import read_facts
    from forge.plan.measure import gather_stats

    path = config_path(project.root, config)
    raw = load_config_dict(path)
    data = apply_overrides(raw, overrides) if overrides else raw
    cfg = validate_dict(data, str(path) if path.exists() else "defaults")
    from forge.records.base import try_read_record
    from forge.records.plan import PlanRecord

    # a torn or foreign record only costs the memory of what the last --write chose
    found, _ = try_read_record(project.factory_dir / PLAN_RECORD, PlanRecord)
    record = {"written": found.written} if found else None
    explicit = explicit_from_files(raw, overrides, record)
    facts = read_facts(cfg.model.name)
    return cfg, raw, explicit, gather_stats(project, cfg, facts), facts


@writes_project("plan --write")  # one writer per project (forge.lock)
def write_plan(project: Project, raw: dict, result, target: Path | None = None) -> dict[str, object]:
    """Write the plan into training-config.json (or the --config file; explicit keys untouched)
    and remember what was written."""
    from forge.files import atomic_write_text
    from forge.plan.settings import RESOLVED_EACH_RUN

    new = result.apply_to(raw)
    new.setdefault("$schema", "./training-config.schema.json")
    atomic_write_text(target or project.config_file, json.dumps(new, indent=2) + "\n")
    written = {k: s.value for k, s in result.settings.items() if s.source == "plan" and k not in RESOLVED_EACH_RUN}
    project.factory_dir.mkdir(parents=True, exist_ok=True)
    from forge.records.base import write_record
    from forge.records.plan import PlanRecord

    write_record(project.factory_dir / PLAN_RECORD, PlanRecord(written=written))
    return written


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
    from forge.plan.resolve import resolve

    project = Project.at(directory)
    target = config_path(project.root, config)
    require_project(project, target)
    cfg, raw, explicit, stats, facts = gather(project, overrides or [], config)
    if hardware is None:
        from forge.plan.hardware import probe

        hardware = probe()
    result = resolve(cfg, stats, hardware, explicit=explicit, facts=facts, vram_gb=vram_gb, root=project.root)
    bad_data = data_refusals(project, cfg)
    result.refusals[:0] = bad_data  # first: every other number of this plan assumed no data
    if write and bad_data:
        # values planned over data that train refuses would be values planned for 0 examples
        first = bad_data[0]
        raise ForgeError(
            f"plan --write: nothing written; {first.message}", first.fix or "fix the data", exit_code=EXIT_USAGE
        )
    written = write_plan(project, raw, result, target) if write else None
    if json_out:
        out = result.to_dict()
        out["project"] = str(project.root)
        out["written"] = written is not None
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return EXIT_OK
    _print(project, result, written)
    return EXIT_OK


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v) if not isinstance(v, str) else v


def _print(project: Project, result, written) -> None:
    from rich.markup import escape
    from rich.table import Table

    from forge.commands.console import console

    console.print(f"[bold]forge plan[/] {escape(str(project.root))}")
    console.print(f"hardware: {escape(result.hardware)}; backend: {result.backend}")
    d = result.data
    console.print(
        f"data: {d['train_examples']} train / {d['val_examples']} val examples; tokens mean {d['tokens_mean']}, "
        f"p99 {d['tokens_p99']}, max {d['tokens_max']} ({escape(d['measured_with'])})"
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
            f"+ overhead {m.overhead_gb:.1f} ({m.tokens_per_micro_batch} tokens per micro-batch)"
        )
    eta = f"{result.seconds / 60:.0f} min" if result.seconds else "unknown"
    tps = f"{result.tokens_per_second:,.0f} tokens/s" if result.tokens_per_second else "speed unknown"
    console.print(
        f"steps: {result.total_steps} ({result.steps_per_epoch} per epoch); "
        f"{result.effective_batch_tokens} tokens per optimizer step; {tps}; time about {eta}"
    )
    for n in result.notes:
        console.print(f"[yellow]![/] {escape(n)}")
    for r in result.refusals:  # what `forge train` would stop with, as check says it
        console.print(f"[red]✗[/] {escape(r.message)}")
        if r.fix:
            console.print(f"    [dim]fix:[/] {escape(r.fix)}")
    if written is not None:
        console.print(f"[green]wrote[/] {len(written)} value(s) into {project.config_file.name}; yours were kept")
    else:
        console.print("[dim]nothing written; `forge plan --write` puts these values into training-config.json[/]")
