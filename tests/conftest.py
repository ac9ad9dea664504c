import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# beside the clone (/work/main -> /work/shared), or two levels up from a worktree (/work/wt/NAME)
EXTERNAL = next(
    (
        p
        for p in (ROOT.parent / "shared" / "data" / "external", ROOT.parent.parent / "shared" / "data" / "external")
        if p.exists()
    ),
    ROOT.parent / "shared" / "data" / "external",
)
sys.path.insert(0, str(ROOT / "src"))


# Gemma 3's official chat template (as the instruct models ship it): no tool role, and it raises
# on anything but alternating user/assistant turns
GEMMA3_OFFICIAL_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def chat_rows(n: int, prefix: str = "q", answer: str | None = None):
    """n ShareGPT rows; with `answer`, every row asks "PREFIX question i?" and gets that one answer
    (learnable in a few steps even by a random tiny model)."""
    if answer is not None:
        turns = [(f"{prefix} question {i}?", answer) for i in range(n)]
    else:
        turns = [(f"{prefix} {i}?", f"answer {i}.") for i in range(n)]
    return [{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in turns]


def forge_here(*args: str, env: dict | None = None, umask: int | None = None) -> subprocess.CompletedProcess:
    """`forge ARGS` run by forge.cli.main in this process, answered as `subprocess.run([python, -m,
    forge, ...], capture_output=True, text=True)` answers: the exit code, stdout and stderr.

    For the runs whose test is about what a verb does and writes. A new interpreter spends seconds
    importing torch, transformers, trl and peft before it trains a step (most of a tiny CPU run);
    here they are imported once. What needs a process of its own stays a subprocess: a signal or
    SIGKILL to it, a lock another process holds, faults injected by tests/slow/inject's
    sitecustomize, several ranks, or a check of the process itself (its imports, its peak RSS).
    env: variables set for the call (and restored); umask: the process umask for the call.
    """
    from forge.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in env or {}}
    old_umask = os.umask(umask) if umask is not None else None
    try:
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        if old_umask is not None:
            os.umask(old_umask)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["forge", *args], code, out.getvalue(), err.getvalue())


def export_report(root: Path) -> dict:
    """metrics/export-report.json of a project, as the export wrote it."""
    return json.loads((root / "metrics" / "export-report.json").read_text())


def copy_trained(src: Path, dst: Path) -> Path:
    """A trained project copied without its outputs (checkpoints, merged model, GGUF files)."""
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("outputs", "merged", "quantized"))
    return dst


@pytest.fixture
def project(tmp_path):
    """A project folder with 120 train and 12 val ShareGPT rows."""
    from forge.init.scaffold import init_project

    proj, _ = init_project(tmp_path / "proj")
    write_jsonl(proj.train_file, chat_rows(120))
    write_jsonl(proj.val_file, chat_rows(12, prefix="v"))
    return proj


@pytest.fixture(scope="session")
def ddp_run(tmp_path_factory):
    """One `forge train --nproc 2` (DDP over gloo, 4 steps, tests/slow/test_distributed's settings),
    run once for the modules that compare with it: 2 processes vs 1 (test_distributed) and FSDP vs
    DDP (test_distributed_fsdp). They only read it: (root, the run's --json stats, seconds it took)."""
    import time

    from test_distributed import cmd, make_project, run

    root = make_project(tmp_path_factory.mktemp("ddp") / "two")
    t0 = time.time()
    res = run(cmd(root, "--nproc", "2", "--json", sets=("training.max_steps=4",)))
    assert res.returncode == 0, res.stderr[-3000:]
    return root, json.loads(res.stdout), time.time() - t0


@pytest.fixture
def external_dir():
    if not EXTERNAL.exists():
        pytest.skip("../shared/data/external not present")
    return EXTERNAL
