"""The `next:` commands forge prints can be pasted as they are (QA: after `forge train DIR` from
another folder they named no folder; `forge init "dir with space"` printed it unquoted)."""

from __future__ import annotations

import shlex

from forge.commands.console import folder_arg


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
