"""The forge command line: one small function per verb, no logic of its own.

Heavy modules are imported inside the verbs so that `forge --help` answers in a fraction of a
second and never imports torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from forge.commands.chat import chat_verb
from forge.commands.empty_folder import empty_folder_argument
from forge.commands.evaluate import evaluate_verb
from forge.commands.split import split_verb
from forge.config.gguf_types import types_text
from forge.errors import ForgeError, unwritable_error
from forge.help_words import PlainHelp

app = typer.Typer(
    cls=PlainHelp,  # --help in forge's words, for every verb (forge.help_words)
    add_completion=False,
    no_args_is_help=True,
    help="forge: checked, explained LoRA fine-tuning of chat models (Unsloth on GPU, transformers+PEFT+TRL elsewhere).",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from forge import __version__  # the version /api/info reports

        sys.stdout.write(f"forge {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print forge's version and exit."
    ),
) -> None:
    """forge: checked, explained LoRA fine-tuning of chat models (Unsloth on GPU, transformers+PEFT+TRL elsewhere)."""


DirArg = typer.Argument(None, help="Project folder (default: the current folder).", show_default=False)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
# every verb that reads the project's config takes these two (forge.config.verb_config says what each reads
# without them: check, plan, train and baseline training-config.json; export, verify and evaluate
# the config the last run trained with, when it put its outputs elsewhere)
SetOpt = typer.Option(None, "--set", help="Override a config key, e.g. training.learning_rate=1e-4 (repeatable).")
ConfigOpt = typer.Option(
    None,
    "--config",
    help="Config file (default: DIR/training-config.json; after a `forge train --config F`, export, verify "
    "and evaluate read F). Relative paths: from the current folder, then DIR.",
)
# train's, and check's: check asks the same start (forge.train.start.read_run_config, start_point)
ResumeOpt = typer.Option(
    False, "--resume", help="Continue from the newest complete checkpoint, with the run's recorded settings."
)
ForceOpt = typer.Option(
    False,
    "--force",
    help="Start over although an earlier run's checkpoints are there (kept until the new run's first checkpoint); "
    "with --resume: resume even if the data, model or batch changed.",
)
ARGV: list[str] = []  # this invocation's arguments (main), for `forge train --gpus N` to hand to torchrun


def _run(fn, *args, **kwargs) -> None:
    """Call a command; user mistakes become a message and an exit code, never a traceback.

    The message and its fix go to stderr; with --json, stdout also gets one JSON object saying the
    same (forge.commands.console.error_document), so that a program always has an answer to read.
    The fix's command hints name the project folder the verb was given (forge.hints)."""
    from forge.interrupts import interrupted_error, sigterm_raises

    try:
        try:
            with sigterm_raises():  # training puts its own handlers over this one (forge.train.signals)
                code = fn(*args, **kwargs)
        except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM in a verb that does not checkpoint
            raise interrupted_error(ARGV, stop) from None
        except OSError as failed:  # a read-only, full or forbidden folder: one error, not a traceback
            raise (unwritable_error(failed) or failed) from None
    except ForgeError as e:
        from forge.commands.console import report_error

        folder = args[0] if args and isinstance(args[0], (str, Path)) else None  # the verb's DIR, when named
        report_error(e, folder, ARGV, json_out=bool(kwargs.get("json_out")))
        raise typer.Exit(e.exit_code) from None
    raise typer.Exit(code or 0)


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Folder to create (may exist; nothing in it is overwritten)."),
    example: Optional[str] = typer.Option(
        None, "--example", help="Also write sample data: 'support' (the built-in example)."
    ),
    model: Optional[str] = typer.Option(None, "--model", help="model.name for the new training-config.json."),
    json_out: bool = JsonOpt,
) -> None:
    """Make the project layout, training-config.json (with $schema) and scripts/train.py."""
    from forge.commands.init import run

    _run(run, directory, example=example, model=model, json_out=json_out)


@app.command()
def check(
    directory: Optional[Path] = DirArg,
    json_out: bool = JsonOpt,
    set_: Optional[List[str]] = SetOpt,
    config: Optional[Path] = ConfigOpt,
    resume: bool = ResumeOpt,
    force: bool = ForceOpt,
) -> None:
    """The pre-training checklist: Data Ready, Hardware Ready, Config Ready, Baseline Done.

    Ready exactly when `forge train` with the same --config, --set, --resume and --force would start."""
    from forge.commands.check import run

    _run(run, directory, json_out=json_out, overrides=set_ or [], config=config, resume=resume, force=force)


@app.command()
def plan(
    directory: Optional[Path] = DirArg,
    write: bool = typer.Option(
        False, "--write", help="Write the plan into training-config.json (explicit values kept)."
    ),
    json_out: bool = JsonOpt,
    set_: Optional[List[str]] = SetOpt,
    vram_gb: Optional[float] = typer.Option(
        None, "--vram-gb", min=0.5, help="GB of GPU memory to plan for, at least 0.5 (a shared GPU, a smaller card)."
    ),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Hardware + data -> model, LoRA rank, batch, accumulation, epochs, learning rate, sequence length."""
    from forge.commands.plan import run

    _run(run, directory, write=write, json_out=json_out, overrides=set_ or [], vram_gb=vram_gb, config=config)


@app.command()
def train(
    directory: Optional[Path] = DirArg,
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
    backend: Optional[str] = typer.Option(None, "--backend", help="auto | unsloth | hf (default: the config's)."),
    resume: bool = ResumeOpt,
    force: bool = ForceOpt,
    gpus: Optional[str] = typer.Option(None, "--gpus", help="Data-parallel over N GPUs ('auto': all visible)."),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="Data-parallel over N CPU processes (gloo; for tests)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="ddp (default) | fsdp (sharded)."),
    nnodes: Optional[int] = typer.Option(None, "--nnodes", help="Machines in the run (with --rdzv-endpoint)."),
    node_rank: Optional[int] = typer.Option(None, "--node-rank", help="This machine's number, 0 hosts the rendezvous."),
    rdzv_endpoint: Optional[str] = typer.Option(None, "--rdzv-endpoint", help="HOST:PORT where the machines meet."),
    json_out: bool = JsonOpt,
    detach: bool = typer.Option(
        False, "--detach", help="Run in the background (own session, output in logs/training.log); return once started."
    ),
) -> None:
    """Fine-tune with LoRA; status in .factory/training-status.json, log in logs/training.log."""
    from forge.commands.train import run

    _run(
        run,
        directory,
        config=config,
        overrides=set_ or [],
        backend=backend,
        resume=resume,
        force=force,
        gpus=gpus,
        nproc=nproc,
        json_out=json_out,
        strategy=strategy,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        argv=list(ARGV) or None,
        detach=detach,
    )


@app.command()
def status(
    directory: Optional[Path] = DirArg,
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh in place while a run goes."),
    json_out: bool = JsonOpt,
    wait: bool = typer.Option(
        False, "--wait", help="Block until the run ends; exit with its outcome (0 done, 1 failed, 130/143 stopped)."
    ),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", min=0, help="With --wait: give up after S seconds, exit 124 (the run goes on)."
    ),
) -> None:
    """The live training status."""
    from forge.commands.status import run

    _run(run, directory, watch=watch, json_out=json_out, wait=wait, timeout=timeout)


@app.command()
def stop(
    directory: Optional[Path] = DirArg,
    json_out: bool = JsonOpt,
    timeout: Optional[float] = typer.Option(
        None, "--timeout", min=0, help="Seconds to wait for the run to let go of the lock (default 300)."
    ),
) -> None:
    """Stop the running train (or export, baseline, evaluate) as SIGTERM does: checkpoint, `interrupted`."""
    from forge.commands.control import run_stop

    _run(run_stop, directory, json_out=json_out, timeout=timeout)


@app.command()
def runs(directory: Optional[Path] = DirArg, json_out: bool = JsonOpt) -> None:
    """Every run of the project, oldest first: outcome, steps, losses, config, adapter, gate."""
    from forge.commands.control import run_runs

    _run(run_runs, directory, json_out=json_out)


@app.command()
def mcp(
    root: Optional[Path] = typer.Option(
        None, "--root", help="Serve the projects under this folder only (default: the current folder)."
    ),
) -> None:
    """The verbs as MCP tools over stdio, for agent frameworks (paths confined to --root)."""
    from forge.commands.mcp import run

    _run(run, root, cli=app)


@app.command()
def ui(
    directories: Optional[List[Path]] = typer.Argument(
        None, help="Project folders to show (default: the current one)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind; anything but localhost is reachable by others."
    ),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
) -> None:
    """The Forge Web UI (read-only)."""
    from forge.commands.ui import run

    _run(run, directories or [], host=host, port=port)


@app.command()
def export(
    directory: Optional[Path] = DirArg,
    merged: bool = typer.Option(False, "--merged", help="Save the merged 16-bit model."),
    gguf: Optional[str] = typer.Option(None, "--gguf", help=f"GGUF types, comma separated, any of: {types_text()}"),
    evaluate: bool = typer.Option(False, "--evaluate", help="Then gate each artifact written (exit 3 on a fail)."),
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
) -> None:
    """Merged model and GGUF files from the saved adapter, verified (--evaluate: and gated)."""
    from forge.commands.export import run

    _run(run, directory, merged=merged, gguf=gguf, evaluate=evaluate, json_out=json_out, config=config, overrides=set_)


@app.command()
def baseline(
    directory: Optional[Path] = DirArg,
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
) -> None:
    """Score the base model on the val split -> metrics/baseline.json."""
    from forge.commands.evaluate import run_baseline

    _run(run_baseline, directory, json_out=json_out, config=config, overrides=set_ or [])


app.command()(evaluate_verb(_run, DirArg, JsonOpt, ConfigOpt, SetOpt))  # `forge evaluate` (forge.commands.evaluate)
app.command()(chat_verb(_run, DirArg, JsonOpt, ConfigOpt, SetOpt))  # `forge chat` (forge.commands.chat)


@app.command()
def verify(
    directory: Optional[Path] = DirArg,
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
) -> None:
    """The outputs checklist: required artifacts, optional artifacts, quality checks."""
    from forge.commands.verify import run

    _run(run, directory, json_out=json_out, config=config, overrides=set_ or [])


@app.command()
def inspect(
    directory: Optional[Path] = DirArg,
    split: str = typer.Option("train", "--split", help="train or val."),
    example: int = typer.Option(1, "--example", help="Which conversation of the split (1 = the first)."),
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
    set_: Optional[List[str]] = SetOpt,
) -> None:
    """One example as training sees it: template, trained spans, image tokens, truncation."""
    from forge.commands.inspect import run

    _run(run, directory, split=split, example=example, json_out=json_out, config=config, overrides=set_ or [])


@app.command()
def schema() -> None:
    """Print the JSON Schema of training-config.json."""
    from forge.config import schema_text

    sys.stdout.write(schema_text())


@app.command()
def demo(
    directory: Optional[Path] = typer.Argument(None, help="Where to build the demo project (default: ./forge-demo)."),
    quick: bool = typer.Option(False, "--quick", help="Use a tiny built-in model; finishes in well under a minute."),
    json_out: bool = JsonOpt,
    example: str = typer.Option("support", "--example", help="support (text) or shapes (images)."),
) -> None:
    """The whole workflow on the built-in example: init, check, baseline, train, evaluate, export, verify."""
    from forge.commands.demo import run

    _run(run, directory, quick=quick, json_out=json_out, example=example)


app.command()(split_verb(_run, DirArg, JsonOpt))  # `forge split`: its options beside it (forge.commands.split)


def main(argv: list[str] | None = None) -> int:
    """Entry point for the console script, scripts/train.py and tests: returns the exit code."""
    ARGV[:] = sys.argv[1:] if argv is None else list(argv)  # the launcher hands these to its ranks
    empty = empty_folder_argument(ARGV)
    if empty is not None:
        from forge.commands.console import print_error, print_error_json

        print_error(empty)
        if "--json" in ARGV:
            print_error_json(empty, ARGV[0])
        return empty.exit_code
    if "--json" in ARGV and not {"-h", "--help"} & set(ARGV):
        return _main_json(argv)
    try:
        app(args=argv, prog_name="forge")
    except SystemExit as e:
        return _exit_code(e.code)
    return 0


def _exit_code(code) -> int:
    return 0 if code is None else code if isinstance(code, int) else 1


def _main_json(argv: list[str] | None) -> int:
    """main with --json: a command line the parser refuses (an unknown option, a missing value) is
    printed as typer prints it, on stderr, and as one JSON error object on stdout, as _run does."""
    try:
        rv = app(args=argv, prog_name="forge", standalone_mode=False)
    except typer.Abort:
        return 1
    except typer.TyperException as e:  # typer's (vendored) click usage errors
        from typer import rich_utils

        from forge.commands.console import print_error_json

        code = getattr(e, "exit_code", 2)
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        rich_utils.rich_format_error(e)
        verb = next((a for a in argv or ARGV if not a.startswith("-")), None)
        print_error_json(ForgeError(message, "see `forge COMMAND --help`", exit_code=code, kind="usage"), verb)
        return code
    except SystemExit as e:
        return _exit_code(e.code)
    return _exit_code(rv) if isinstance(rv, int) else 0
