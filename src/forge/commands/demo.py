"""`forge demo [DIR] [--quick] [--json]`: the whole workflow on the built-in example, on this machine.

init (the `support` example) -> check -> baseline -> train -> evaluate (the gate must pass) ->
export (merged + GGUF q8_0) -> verify. Each step calls its wing's function (forge.demo.steps);
this command prints what each returned, then a table of every step's result and time, the gate
verdict and where the outputs are. The exit code is the first failed step's (3: the gate failed).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from forge.demo import steps as demo_steps
from forge.demo.setup import (
    CPU_MODEL,
    DEFAULT_DIR,
    EXAMPLE,
    VLM_MODEL,
    choose_model,
    prepare_project,
    require_cpu_model,
)
from forge.errors import EXIT_FAIL, EXIT_OK, ForgeError
from forge.hints import name_folder
from forge.project import Project
from forge.records.base import try_read_record
from forge.records.evaluate import EvaluationRecord


@dataclass
class Step:
    name: str
    status: str = "pending"  # ok | failed | skipped | note | pending
    seconds: float = 0.0
    detail: str = ""
    code: int | None = None


class _Demo:
    def __init__(self, project: Project, model: str, quick: bool, json_out: bool):
        self.project, self.model, self.quick, self.json_out = project, model, quick, json_out
        self.steps: list[Step] = []
        self.answers: dict[str, object] = {}  # each step's --json answer, for the demo's own --json

    def step(self, name: str, call: Callable[[], demo_steps.Outcome]) -> Step:
        """Run one step: its outcome, or the ForgeError it raised, becomes a row of the table."""
        step = Step(name)
        self.steps.append(step)
        if not self.json_out:
            _console().rule(f"[bold]{name}[/]")
        t0 = time.monotonic()
        try:
            outcome = call()
        except ForgeError as e:
            step.code = e.exit_code or EXIT_FAIL
            e.fix = name_folder(e.fix, self.project.root)  # the demo's folder, as the verbs name theirs
            step.detail = e.message.splitlines()[0] + (f" (fix: {e.fix})" if e.fix else "")
            if not self.json_out:
                from forge.commands.console import print_error

                print_error(e)
        else:
            step.code, step.detail = outcome.code, outcome.detail
            self.answers[name] = outcome.data
            if not self.json_out:
                _print_outcome(self.project, name, outcome)
            if outcome.note:
                step.status = "note"
        gc.collect()  # the steps load models; free one before the next step loads another
        step.seconds = time.monotonic() - t0
        if step.status != "note":
            step.status = "ok" if not step.code else "failed"
        return step


def run(directory: Path | None = None, quick: bool = False, json_out: bool = False, example: str = EXAMPLE) -> int:
    from forge.data.examples import EXAMPLES, require_example

    require_example(example)  # an unknown name: exit 2 before anything is written
    directory = Path(directory or DEFAULT_DIR)
    t_start = time.monotonic()
    model, why, extra = choose_model(quick, example)
    if not quick and model == CPU_MODEL:
        require_cpu_model()
    # the tiny random VLM (the image example off a GPU) is judged as --quick judges its tiny model
    demo = _Demo(Project.at(directory), model, quick or model == VLM_MODEL, json_out)
    if not json_out:
        _console().print(f"[bold]forge demo[/] {directory}  model [bold]{model}[/] ({why})")

    init = Step("init")
    demo.steps.append(init)
    t0 = time.monotonic()
    project = demo.project = prepare_project(directory, model, extra, example)
    init.status, init.seconds = "ok", time.monotonic() - t0
    init.detail = f"example {example!r} ({EXAMPLES[example].split(':')[0]})"
    if not quick and model == CPU_MODEL:
        _convert_cpu_model(demo)

    from forge.lock import project_lock

    # one writer for the whole workflow: no other verb slips in between two steps (the steps'
    # own locks nest inside this one, forge.lock is re-entrant within a process)
    with project_lock(project, "demo"):
        failed = _workflow(demo, project, demo.quick, json_out)
    total = time.monotonic() - t_start
    code = failed.code if failed is not None else EXIT_OK
    if json_out:
        from forge.commands.console import print_json

        print_json("demo", _summary_dict(demo, total, code), code == EXIT_OK)
    else:
        _print_summary(demo, total, code)
    return code


def _workflow(demo: _Demo, project: Project, quick: bool, json_out: bool) -> Step | None:
    """check -> baseline -> train -> evaluate, then export and verify; the first failed step, or None."""
    for name, call in (
        ("check", lambda: demo_steps.check(project)),
        ("baseline", lambda: demo_steps.baseline(project)),
        ("train", lambda: _train(project, json_out)),
        ("evaluate", lambda: demo_steps.evaluate(project)),
    ):
        step = demo.step(name, call)
        if step.code:
            return step
    why_not = demo_steps.export_available()
    if why_not:
        demo.steps.append(Step("export", "skipped", detail=why_not))
    else:
        # the adapter is the product: a failed export is reported, and verify still runs
        step = demo.step("export", lambda: demo_steps.export(project, None if json_out else _say))
        from forge.export.gguf import llama_cpp_available

        if not step.code and not llama_cpp_available():
            demo.steps.append(Step("evaluate Q8_0", "skipped", detail="scoring a GGUF needs llama-cpp-python"))
        elif not step.code:  # what is shipped is gated too: the Q8_0 file, as the adapter was
            step = demo.step(
                "evaluate Q8_0",
                lambda: demo_steps.evaluate_artifacts(project, ["gguf:q8_0"], None if json_out else _say),
            )
            if step.code:
                return step
    step = demo.step("verify", lambda: demo_steps.verify(project, quick))
    if step.code:
        return step
    return None


def _convert_cpu_model(demo: _Demo) -> None:
    """The first use converts the GGUF (about two minutes): its own row, so the demo never looks stuck."""
    from forge.models.builtin_gemma import is_cached, load_gemma_270m_path

    step = Step("model")
    demo.steps.append(step)
    t0 = time.monotonic()
    if not demo.json_out:
        _console().rule("[bold]model[/]")
        if not is_cached():
            _console().print(f"first use of {CPU_MODEL}: converting the GGUF to safetensors (once; about 2 minutes)")
    path = load_gemma_270m_path()
    step.status, step.seconds, step.detail = "ok", time.monotonic() - t0, str(path)


def _train(project: Project, json_out: bool) -> demo_steps.Outcome:
    """The train step with the verb's live display: its progress bar on a terminal, notable log lines."""
    if json_out:
        return demo_steps.train(project)
    from forge.commands.console import err_console
    from forge.commands.train import _ConsoleHandler, _ProgressBar

    handler = _ConsoleHandler(err_console)
    if not sys.stdout.isatty():
        return demo_steps.train(project, console_handler=handler)
    with _ProgressBar(_console()) as bar:
        return demo_steps.train(project, progress=bar.update, console_handler=handler)


def _say(msg: str) -> None:
    from rich.markup import escape

    _console().print(f"  [dim]·[/] {escape(msg)}", highlight=False)


def _print_outcome(project: Project, name: str, outcome: demo_steps.Outcome) -> None:
    from rich.markup import escape

    console = _console()
    if name == "baseline":
        from forge.commands.evaluate import print_baseline

        print_baseline(project, outcome.result)
        return
    if name in ("evaluate", "evaluate Q8_0"):
        from forge.commands.evaluate import print_evaluation

        print_evaluation(project, outcome.result)
        return
    if name in ("check", "verify"):  # the checklist's problems; the full list is `forge check` / `forge verify`
        for item in outcome.result.name_folder(project.root).items:
            if item.status in ("warn", "fail"):
                mark = "[yellow]![/]" if item.status == "warn" else "[red]✗[/]"
                detail = item.detail.splitlines()[0] if item.detail else ""
                console.print(f"  {mark} {escape(item.name)}" + (f": {escape(detail)}" if detail else ""))
                if item.fix:
                    console.print(f"      [dim]fix:[/] {escape(item.fix)}")
    if name == "export" and outcome.code:
        for c in outcome.result.failed_checks:
            console.print(f"  [red]✗[/] {escape(c['name'])}: {escape(c['detail'])}", highlight=False)
    colour = "green" if not outcome.code else "red"
    console.print(f"[{colour}]{name}:[/] {escape(outcome.detail)}")


def _gate(demo: _Demo) -> str:
    evaluation, _ = try_read_record(demo.project.evaluation_file, EvaluationRecord)
    return evaluation.verdict if evaluation is not None else "-"


def _comparison(demo: _Demo) -> list[dict]:
    evaluation, _ = try_read_record(demo.project.evaluation_file, EvaluationRecord)
    return evaluation.comparison() if evaluation is not None else []


def _summary_dict(demo: _Demo, total: float, code: int) -> dict:
    return {
        "project": str(demo.project.root),
        "model": demo.model,
        "quick": demo.quick,
        "exit_code": code,
        "gate": _gate(demo),
        "seconds": round(total, 1),
        "steps": [
            {"name": s.name, "status": s.status, "seconds": round(s.seconds, 1), "detail": s.detail, "code": s.code}
            for s in demo.steps
        ],
        "outputs": _where(demo.project),
        "comparison": _comparison(demo),
        "steps_json": demo.answers,
    }


def _where(p: Project) -> dict[str, str]:
    from forge.config.verb_config import reader_config

    out = p.outputs(reader_config(p))  # where the demo's config put them
    items = {
        "config": p.config_file,
        "baseline": p.baseline_file,
        "evaluation": p.evaluation_file,
        "training stats": p.training_stats_file,
        "adapter": out.lora,
        "merged model": out.merged,
        "GGUF": out.gguf,
        "log": p.log_file,
    }
    return {k: p.rel(v) for k, v in items.items() if v.exists() and (v.is_file() or any(v.iterdir()))}


def _console():
    from forge.commands.console import console

    return console


def _print_summary(demo: _Demo, total: float, code: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    marks = {
        "ok": "[green]✓ ok[/]",
        "failed": "[red]✗ failed[/]",
        "skipped": "[yellow]- skipped[/]",
        "note": "[yellow]! note[/]",
    }
    table = Table(title=f"forge demo: {escape(demo.model)} in {escape(str(demo.project.root))}")
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail")
    for s in demo.steps:
        table.add_row(s.name, marks.get(s.status, s.status), f"{s.seconds:.1f}s", escape(s.detail))
    console.print()
    console.print(table)
    evaluation, _ = try_read_record(demo.project.evaluation_file, EvaluationRecord)
    if evaluation is not None:  # the demo ends with the table the web UI shows: a column per artifact
        from forge.commands.evaluate import print_columns

        print_columns(evaluation)
    gate = _gate(demo)
    colour = "green" if gate == "pass" else "red"
    console.print(f"gate: [bold {colour}]{gate.upper()}[/]   total {total:.0f}s   exit code {code}")
    for k, v in _where(demo.project).items():
        console.print(f"  {k:15} {escape(v)}")
    if code == EXIT_OK:
        from forge.hints import folder_arg, forge_command

        # `make demo` runs .venv/bin/forge, which is not on PATH: the command must say so (QA, issue 28)
        forge = forge_command()
        console.print(f"next: [bold]{escape(forge)} ui{escape(folder_arg(demo.project.root))}[/] to look at the run")
        if forge != "forge":
            activate = Path(forge).parent / "activate"
            console.print(
                f"  (forge is not on PATH: `source {escape(str(activate))}` makes the `forge ...` commands above work)"
                if activate.is_file()
                else "  (forge is not on PATH: activate its virtual environment for the `forge ...` commands above)",
                highlight=False,
            )
