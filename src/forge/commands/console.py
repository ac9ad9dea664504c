"""Rich console helpers shared by the verbs (torch-free)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_error(e) -> None:
    from rich.markup import escape

    # escaped: messages quote library errors such as gloo's "[/__w/pytorch/.../pair.cc:553]", which
    # rich would read as a closing tag and fail on (a traceback in place of the error)
    msg = getattr(e, "message", str(e))
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, markup=True)
    fix = getattr(e, "fix", None)
    if fix:
        err_console.print(f"[bold]fix:[/] {escape(fix)}", highlight=False)


def report_error(e, folder, argv: list[str], *, json_out: bool) -> None:
    """What the command line says for a verb's ForgeError: its fix's command hints name the folder
    the verb was given (forge.hints) with the options a `forge train` needs in the project's state
    (forge.train.again), on stderr; with --json, stdout gets the error object too."""
    from forge.hints import name_folder

    e.fix = name_folder(e.fix, folder)
    if isinstance(e.fix, str) and "`forge train" in e.fix:
        from forge.train.again import accepted_fix

        e.fix = accepted_fix(e.fix, folder, argv)
    print_error(e)
    if json_out:
        print_error_json(e, argv[0] if argv else None)


def print_notes(notes) -> None:
    """What a verb says about the config it read (forge.config.verb_config), on stderr, before its work."""
    from rich.markup import escape

    for note in notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def error_document(e) -> dict:
    """One JSON object for a ForgeError (`--json` answers on failure): error, fix, kind, exit_code,
    and file / line where the error knows them (its own `file`/`line`; a DataError's report, its
    first bad line; a ConfigError's config file, and the line of a JSON syntax error in it)."""
    import re

    doc = {
        "ok": False,
        "error": getattr(e, "message", str(e)),
        "fix": getattr(e, "fix", None),
        "kind": getattr(e, "kind", "error"),
        "exit_code": getattr(e, "exit_code", 1),
    }
    file, line = getattr(e, "file", None), getattr(e, "line", None)
    report = getattr(e, "report", None)  # forge.data.reader.DataError
    if file is None and report is not None and getattr(report, "path", None):
        file = str(report.path)
        problems = getattr(report, "problems", None) or []
        line = line if line is not None else getattr(problems[0], "line", None) if problems else None
    source = getattr(e, "source", None)  # forge.config.ConfigError: the file, "--set", "defaults (+ --set)"
    if file is None and isinstance(source, str):
        path = source  # "FILE + --set": the problem may be the file's or a --set's, so no file is named
        if path not in ("defaults", "--set") and not path.endswith(" + --set"):
            file = path
            first = (getattr(e, "problems", None) or [""])[0]
            m = re.match(r"line (\d+) column \d+: invalid JSON", str(first))
            line = int(m.group(1)) if m and line is None else line
    if file is not None:
        doc["file"] = str(file)
    if line is not None:
        doc["line"] = line
    if getattr(e, "key", None):  # forge.config.ConfigError: the key at fault
        doc["key"] = e.key
    return doc


JSON_SCHEMA_VERSION = 1  # of the envelope below; a document that is a record keeps the record's


def envelope(verb: str, doc: dict, ok: bool) -> dict:
    """Every `--json` document forge prints starts with the same three keys: `ok` (the verb's
    verdict: done, ready, verified, the gate passed; the document's own `ok` where it has one),
    `verb`, and `schema_version` (the record's, for a document that is a record: baseline,
    evaluate, export, status; else JSON_SCHEMA_VERSION). The document's own keys follow, unchanged
    (`ready` of check and plan stays beside `ok`). docs/status-contract.md lists them."""
    out = {
        "ok": bool(doc.get("ok", ok)),
        "verb": verb,
        "schema_version": doc.get("schema_version", JSON_SCHEMA_VERSION),
    }
    out.update((k, v) for k, v in doc.items() if k not in out)
    return out


def print_json(verb: str, doc: dict, ok: bool, indent: int | None = 2) -> None:
    """One `--json` answer on stdout, in the envelope."""
    import json
    import sys

    sys.stdout.write(json.dumps(envelope(verb, doc, ok), indent=indent, default=str) + "\n")


def print_error_json(e, verb: str | None = None) -> None:
    import json
    import sys

    try:
        doc = envelope(verb or "forge", error_document(e), False)
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        sys.stdout.flush()
    except OSError:  # the reader went away: the exit code still says it
        pass
