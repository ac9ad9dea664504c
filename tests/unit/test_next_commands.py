"""The `next:` commands forge prints can be pasted as they are (QA: after `forge train DIR` from
another folder they named no folder; `forge init "dir with space"` printed it unquoted)."""

from __future__ import annotations

import shlex

from forge.hints import folder_arg


def test_the_current_folder_is_left_out_others_named_and_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert folder_arg(tmp_path) == ""
    (tmp_path / "dir with space").mkdir()
    assert shlex.split(folder_arg(tmp_path / "dir with space")) == ["dir with space"]
    elsewhere = tmp_path.parent / "it's here"
    assert shlex.split(folder_arg(elsewhere)) == [str(elsewhere.resolve())]


def test_init_prints_a_check_command_that_names_the_folder(tmp_path, monkeypatch, capsys):
    from forge.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["init", "my proj"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "forge check 'my proj'" in out


def test_init_over_data_already_there_says_so_and_names_check(tmp_path, monkeypatch, capsys):
    # QA: `forge init` of a folder with data/splits/train.jsonl still said "put data in data/splits/"
    from forge.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "proj" / "data" / "splits").mkdir(parents=True)
    (tmp_path / "proj" / "data" / "splits" / "train.jsonl").write_text("{}\n")
    assert main(["init", "proj"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "data already there: data/splits/train.jsonl" in out and "put data in" not in out
    assert "next: forge check proj (config: training-config.json)" in out
    assert main(["init", "fresh"]) == 0  # no data yet: where to put it
    assert "next: put data in data/splits/ and run forge check fresh" in " ".join(capsys.readouterr().out.split())


# Every copy-pasteable hint names the folder the same way (forge.hints): what the command line
# prints relative to the current folder, what the status file (and the web UI) holds absolute.


def test_hints_name_the_folder_once_and_only_for_verbs_that_take_one(tmp_path, monkeypatch):
    from forge.hints import name_folder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my proj").mkdir()
    text = "rerun `forge train --resume`; then `forge verify`; see `forge schema`; `forge init DIR` first"
    assert name_folder(text, tmp_path) == text  # the current folder: nothing to add
    named = name_folder(text, tmp_path / "my proj")
    assert named == (
        "rerun `forge train 'my proj' --resume`; then `forge verify 'my proj'`; see `forge schema`; `forge init DIR` first"
    )
    assert name_folder(named, tmp_path / "my proj") == named  # naming twice changes nothing
    absolute = shlex.quote(str((tmp_path / "my proj").resolve()))
    assert name_folder(text, tmp_path / "my proj", absolute=True).startswith(f"rerun `forge train {absolute} --resume`")
    assert name_folder("run `forge train DIR --gpus N`", tmp_path / "my proj") == "run `forge train 'my proj' --gpus N`"
    assert name_folder("run `forge train DIR --gpus N`", tmp_path) == "run `forge train --gpus N`"
    assert name_folder(None, tmp_path) is None and name_folder(3, tmp_path) == 3  # a damaged status value


def test_an_error_fix_names_the_folder_the_verb_was_given(tmp_path, monkeypatch, capsys):
    import json

    from forge.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["init", "p q"]) == 0
    capsys.readouterr()
    assert main(["export", "p q", "--json"]) == 1  # no adapter yet
    said = capsys.readouterr()
    fix = json.loads(said.out)["fix"]
    assert "`forge train 'p q'`" in fix and "`forge train 'p q'`" in " ".join(said.err.split())
    # from inside the project, the same command names no folder
    monkeypatch.chdir(tmp_path / "p q")
    assert main(["export", "--json"]) == 1
    assert "`forge train`" in json.loads(capsys.readouterr().out)["fix"]


def test_a_checklist_fix_names_the_folder(tmp_path, monkeypatch, capsys):
    import json

    from forge.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["init", "p"]) == 0
    capsys.readouterr()
    main(["check", "p", "--json"])
    items = [i for sec in json.loads(capsys.readouterr().out)["sections"].values() for i in sec]
    baseline = next(i for i in items if i["name"] == "metrics/baseline.json")
    assert baseline["fix"] == "run `forge baseline p`"


def test_the_status_file_names_the_folder_absolute_and_old_files_are_named_on_read(tmp_path, monkeypatch):
    import json

    from forge.check.staleness import run_status
    from forge.init.scaffold import init_project
    from forge.status import StatusWriter

    monkeypatch.chdir(tmp_path)
    proj, _ = init_project(tmp_path / "p")
    absolute = shlex.quote(str(proj.root.resolve()))
    w = StatusWriter(proj.status_file, run_id="r1")
    w.phase("interrupted", error_kind="interrupted", message="checkpoint none; continue with `forge train --resume`")
    held = json.loads(proj.status_file.read_text())
    assert held["message"] == f"checkpoint none; continue with `forge train {absolute} --resume`"
    # a file an older forge wrote (no folder in its hints) reads named; an interrupted run without
    # a solution gets the resume command, named (the web page's fallback is the server's)
    held.update(message="continue with `forge train --resume`", solution=None)
    proj.status_file.write_text(json.dumps(held))
    view = run_status(proj)
    assert view["message"] == f"continue with `forge train {absolute} --resume`"
    assert view["solution"].startswith(f"`forge train {absolute} --resume` continues")


def test_the_web_page_has_no_command_of_its_own_for_a_stopped_run():
    from pathlib import Path

    import forge.web

    js = (Path(forge.web.__file__).parent / "static" / "app.js").read_text()
    assert "forge train --resume" not in js  # the status view's solution names the folder (run_status)
