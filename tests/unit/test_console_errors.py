"""An error quoting text that looks like rich markup prints as it is (it raised MarkupError before:
a rank's gloo error "[/__w/pytorch/...]" became a traceback in place of the error and its fix)."""

from __future__ import annotations

from forge.commands import console
from forge.errors import ForgeError


def test_markup_like_text_in_an_error_prints_verbatim(capsys, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr(console, "err_console", Console(stderr=True, width=400))
    e = ForgeError(
        "training failed: RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/pair.cc:553] Connection closed",
        "see [bold]logs[/bold] and [/x]",
    )
    console.print_error(e)
    err = capsys.readouterr().err
    assert "[/__w/pytorch/pytorch/third_party/gloo/pair.cc:553] Connection closed" in err
    assert "see [bold]logs[/bold] and [/x]" in err
