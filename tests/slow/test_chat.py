"""`forge chat`: one answer for scripts (--prompt, stdin, --json) and a multi-turn chat on a terminal
(slow: one tiny-llama training run, then the chats as a user runs them, in their own processes)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest
from tests.conftest import chat_rows, forge_here, write_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path_factory.mktemp("chat") / "p")
    write_jsonl(proj.train_file, chat_rows(32))
    write_jsonl(proj.val_file, chat_rows(4, prefix="v"))
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"].update(name="builtin:tiny-llama", load_in_4bit=False, max_seq_length=64)
    cfg["dataset"]["chat_template"] = "llama-3"
    cfg["training"].update(max_steps=4, per_device_train_batch_size=4, gradient_accumulation_steps=1)
    proj.config_file.write_text(json.dumps(cfg))
    r = forge_here("train", str(proj.root))
    assert r.returncode == 0, r.stdout + r.stderr
    return proj.root


def _forge(*args, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "forge", *args], input=stdin, capture_output=True, text=True, timeout=300
    )


def test_prompt_answers_once_with_json(trained):
    r = _forge(
        "chat",
        str(trained),
        "--prompt",
        "v 1?",
        "--system",
        "Be brief.",
        "--set",
        "evaluation.max_new_tokens=4",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["artifact"] == "adapter" and out["template"] == "llama-3" and "<|eot_id|>" in out["stops"]
    assert out["prompt"] == "v 1?" and isinstance(out["answer"], str)


def test_stdin_is_the_prompt_and_all_is_refused(trained):
    r = _forge("chat", str(trained), "--set", "evaluation.max_new_tokens=4", stdin="v 2?\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == r.stdout.strip().splitlines()[-1]  # the answer alone, for scripts
    r = _forge("chat", str(trained), "--artifact", "all", "--prompt", "hi", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["kind"] == "usage"
    r = _forge("chat", str(trained), "--artifact", "merged", "--prompt", "hi", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["kind"] == "artifact_missing"


def test_terminal_gets_a_multi_turn_chat(trained):
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: forge chat on a terminal
        os.execvpe(
            sys.executable,
            [sys.executable, "-m", "forge", "chat", str(trained), "--set", "evaluation.max_new_tokens=3"],
            os.environ,
        )
    seen = b""

    def until(count: int) -> None:
        nonlocal seen
        end = time.time() + 240
        while seen.count(b"you> ") < count and time.time() < end:
            if select.select([fd], [], [], 1)[0]:
                seen += os.read(fd, 4096)
        assert seen.count(b"you> ") >= count, seen.decode(errors="replace")

    until(1)
    os.write(fd, b"v 1?\n")
    until(2)
    os.write(fd, b"and v 2?\n")
    until(3)
    os.write(fd, b"/exit\n")
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0
    assert text.count("model>") == 2 and "forge chat" in text
