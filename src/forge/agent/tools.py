"""The MCP tools: one per verb, each taking its CLI options (forge.agent.schema) (torch-free).

In the server's process (they read forge's records or start and signal processes, and are quick):
init (forge.init.scaffold), status and wait (forge.control.waiting), stop, runs, and train, which is
always detached (forge.control.detach: the run outlives the call and the server). In a child
process (forge.agent.subprocess_verb: they load the ML stack): check, plan, baseline, evaluate,
export, verify, inspect, and chat (one prompt answered: an interactive chat has no place in a tool
call, so `prompt` is required). Every result is the verb's `--json` document (forge.agent.results).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from forge.agent.schema import Option, cli_commands, signature, verb_options
from forge.errors import ForgeError

IN_PROCESS = ("init", "status", "wait", "stop", "runs", "train")
CHILD = ("check", "plan", "baseline", "evaluate", "export", "verify", "inspect", "chat")
# options the CLI may leave out but a tool call may not: `forge chat` without --prompt reads stdin or
# opens an interactive chat, neither of which a tool call has
REQUIRED = {"chat": ("prompt",)}
WAIT_POLL_S = 0.5

DESCRIPTIONS = {
    "train": "Start `forge train` in the background (always detached: the run outlives this call and the server). "
    "Returns run_id, pid and the log and status paths once the run holds the project lock and passed its "
    "checks; a refusal (config, data, template, memory, a run already going) is a tool error. Follow it "
    "with `wait`, `status`, `stop`.",
    "wait": "Block until the project's run ends (progress notifications: steps done of total); the result is the "
    "final status, `_meta.exit_code` its outcome (0 done, 1 failed, 130/143 interrupted). Timeout: a tool "
    "error with exit_code 124, the run goes on. No run in progress: answers at once with the last outcome.",
    "chat": "Ask the trained model one question (`forge chat --prompt TEXT --json`): the adapter (default), the "
    "merged model or a GGUF (`artifact`: adapter, merged or gguf:TYPE), with an optional `system` message "
    "(`set` evaluation.max_new_tokens=N: the answer's length). The result names the artifact, its path, "
    "template, stop tokens and precision, and the `answer`. No adapter yet, an export of another adapter, or "
    "a bad artifact name: a tool error with the fix.",
}


def tool_specs(app) -> list[tuple[str, list[Option], str]]:
    """(name, options, description) of every tool, from the CLI's commands (`app`: forge.cli's)."""
    commands = cli_commands(app)
    specs = []
    for name in ("init", "check", "plan", "baseline", "train", "status", "wait", "stop", "runs"):
        specs.append(_spec(name, commands))
    for name in ("evaluate", "export", "verify", "inspect", "chat"):
        specs.append(_spec(name, commands))
    return specs


def _spec(name: str, commands) -> tuple[str, list[Option], str]:
    verb = "status" if name == "wait" else name
    options = verb_options(commands[verb])
    if name == "wait":
        options = [o for o in options if o.name in ("directory", "timeout")]
    elif name == "status":
        options = [o for o in options if o.name != "timeout"]
    options = [replace(o, required=True) if o.name in REQUIRED.get(name, ()) else o for o in options]
    help_text = (commands[verb].help or "").strip().split("\n\n")[0]
    return name, options, DESCRIPTIONS.get(name, f"`forge {verb}`: {help_text} The result is its --json document.")


def make_tool(server_root: Path, name: str, options: list[Option], context_type: Any):
    """The async function the MCP server registers for `name` (its signature: the options)."""
    from forge.agent.paths import confine
    from forge.agent.results import error_result

    async def tool(**kwargs: Any):
        ctx = kwargs.pop("ctx", None)
        folder = server_root  # until the folder is known: what an error's `forge VERB` hints name
        try:
            values = {o.name: kwargs.get(o.name, o.default) for o in options}
            folder = confine(server_root, values.get("directory"), "directory")
            for o in options:
                if o.is_path and o.name != "directory" and values.get(o.name):
                    values[o.name] = str(_confine_file(server_root, folder, values[o.name], o.name))
            values["directory"] = str(folder)
            return await _dispatch(name, options, values, folder, server_root, ctx)
        except ForgeError as e:
            return error_result(e, folder)

    sig, annotations = signature(options, context_type)
    tool.__name__ = name
    tool.__signature__ = sig  # type: ignore[attr-defined]
    tool.__annotations__ = annotations
    return tool


def _confine_file(root: Path, folder: Path, value: str, what: str) -> Path:
    """A file option (--config): read from the project folder when it is there, else from the root."""
    from forge.agent.paths import confine

    candidate = Path(value)
    if not candidate.is_absolute() and (folder / candidate).exists():
        return confine(root, folder / candidate, what)
    return confine(root, value, what)


async def _dispatch(name, options, values, folder: Path, root: Path, ctx):
    import anyio

    from forge.agent.results import tool_result

    report = ctx.report_progress if ctx is not None else None
    if name in CHILD:
        from forge.agent.subprocess_verb import run_verb

        argv = [name, *(w for o in options for w in o.argv(values.get(o.name)))]
        code, doc, err = await run_verb(argv, root, report)
        if doc is None:
            lines = [line for line in err.strip().splitlines() if line.strip()][-5:]
            doc = {
                "ok": False,
                "error": f"forge {name} exited with {code} and printed no JSON document",
                "fix": " | ".join(lines) or "see the server's stderr",
                "kind": "internal",
                "exit_code": code,
            }
        return tool_result(doc, code)
    if name == "wait":
        return await _wait(folder, values.get("timeout"), report)
    from forge.project import Project

    if name == "status":
        from forge.commands.status import exit_code, json_view
        from forge.web.readers import status_view

        view = status_view(Project.existing(folder))
        return tool_result(json_view(view), exit_code(view))
    if name == "runs":
        from forge.control.history import list_runs

        project = Project.existing(folder)
        return tool_result({"project": str(project.root), "runs": [r.to_dict() for r in list_runs(project)]})
    if name == "stop":
        from forge.control.stopping import STOP_TIMEOUT, stop_run

        timeout = values.get("timeout")
        project = Project.existing(folder)
        doc = await anyio.to_thread.run_sync(lambda: stop_run(project, STOP_TIMEOUT if timeout is None else timeout))
        return tool_result(doc)
    if name == "train":
        from forge.control.detach import start_detached

        argv = ["train", *(w for o in options for w in o.argv(values.get(o.name)))]
        project = Project.existing(folder)
        return tool_result(await anyio.to_thread.run_sync(lambda: start_detached(project, argv)))
    if name == "init":
        from forge.commands.init import init_document

        doc = await anyio.to_thread.run_sync(lambda: init_document(folder, values.get("example"), values.get("model")))
        return tool_result(doc)
    raise ForgeError(f"no tool {name!r}", "list the tools", exit_code=2)


async def _wait(folder: Path, timeout, report):
    import anyio

    from forge.agent.results import tool_result
    from forge.commands.status import json_view
    from forge.control.outcome import EXIT_TIMEOUT
    from forge.control.waiting import RunWait
    from forge.project import Project

    waiter = RunWait(Project.existing(folder), timeout)
    while True:
        state = await anyio.to_thread.run_sync(waiter.poll)
        view = state.view
        if report is not None and not state.over:
            total = view.get("total_steps") or None
            await report(view.get("step") or 0, total, f"{view.get('effective_phase')}: loss {view.get('loss')}")
        if state.over:
            break
        await anyio.sleep(WAIT_POLL_S)
    if state.code == EXIT_TIMEOUT:
        raise ForgeError(
            f"the run did not end within {timeout:g} s; it goes on (phase {view.get('effective_phase')}, "
            f"step {view.get('step')}/{view.get('total_steps')})",
            "call `wait` again, or `stop` to end it with a checkpoint",
            exit_code=EXIT_TIMEOUT,
            kind="timeout",
        )
    return tool_result(json_view(view), state.code)
