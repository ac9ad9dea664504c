"""One set of conventions across the verbs (QA, issue 28):

- `--help` showed Python's types (`<bool>`, `<list[str]>`, `<float range> [x>=0.5]`, `{directory}`);
- `--json` documents differed: check and plan said `ready` where verify and export said `ok`, and
  `schema_version` was in some and not others; each now opens with `ok`, `verb`, `schema_version`;
- stopping `forge ui` with Ctrl-C printed "error: interrupted ... fix: run it again";
- `next: forge ui forge-demo` after `make demo` named a command that is not on PATH.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import forge
from forge.cli import main

VERBS = ["", "init", "check", "plan", "train", "status", "stop", "runs", "mcp", "ui", "export", "baseline", "evaluate"]
VERBS += ["verify", "schema", "demo", "inspect"]
PYTHON_WORDS = re.compile(r"<[a-z]|list\[|x>=|x<=|\{[a-z_]+\}|\bbool\b|\bfloat\b|\bstr\b")
SRC = Path(forge.__file__).resolve().parents[1]


@pytest.mark.parametrize("verb", VERBS)
def test_help_shows_no_python_types(verb, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as done:
        from forge.cli import app

        app(args=[verb, "--help"] if verb else ["--help"], prog_name="forge")
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "Usage: forge" in text and not PYTHON_WORDS.search(text), PYTHON_WORDS.findall(text)


def test_a_range_is_still_checked_and_said_in_words(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["plan", str(tmp_path), "--vram-gb", "0.1"]) == 2
    assert main(["plan", "--help"]) == 0
    assert "GB" in capsys.readouterr().out


ENVELOPE = ("ok", "verb", "schema_version")


def _doc(capsys, *argv) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_every_json_document_opens_with_one_envelope(project, capsys, tmp_path):
    root = str(project.root)
    answers = {
        "status": _doc(capsys, "status", root, "--json"),
        "runs": _doc(capsys, "runs", root, "--json"),
        "verify": _doc(capsys, "verify", root, "--json"),
        "check": _doc(capsys, "check", root, "--json", "--set", "model.name=builtin:tiny-llama"),
        "export": _doc(capsys, "export", root, "--json"),  # an error document: no adapter
        "train": _doc(capsys, "train", root, "--json", "--set", "lora.r=-1"),  # refused
        "evaluate": _doc(capsys, "evaluate", str(tmp_path / "nowhere"), "--json"),
    }
    for verb, (code, doc) in answers.items():
        assert list(doc)[:3] == list(ENVELOPE), (verb, list(doc))
        assert doc["verb"] == verb and isinstance(doc["schema_version"], int), (verb, doc)
        assert doc["ok"] is (code == 0), (verb, code, doc["ok"])
    code, check = answers["check"]
    assert check["ok"] is check["ready"]  # the old key stays, beside the new one


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# inherited: SIGINT ignored, as in a command a script starts with `&` (`make test &` gave exit 0:
# uvicorn still stops on the signal, but its re-raise of it was ignored)
@pytest.mark.parametrize("inherited", [None, _ignore_sigint], ids=["sigint-default", "sigint-ignored"])
def test_ctrl_c_stops_forge_ui_quietly(tmp_path, inherited):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "forge", "ui", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=inherited,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("forge ui did not start listening")
        ui.send_signal(signal.SIGINT)
        out, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
    assert ui.returncode == 130, (out, err)
    assert "error" not in err.lower() and "run it again" not in err + out, err


def test_the_demo_names_a_forge_that_runs_where_forge_is_not_on_path(tmp_path, monkeypatch):
    from forge.hints import forge_command

    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "forge"  # as pip writes a console script
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom forge.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no forge there
    said = forge_command()
    assert said == ".venv/bin/forge"
    res = subprocess.run(
        [*said.split(), "ui", "--help"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}
    )
    assert res.returncode == 0, res.stderr  # the printed command works as printed, from that folder
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert forge_command() == "forge"
