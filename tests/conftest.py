import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT.parent / "shared" / "data" / "external"
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


def chat_rows(n: int, prefix: str = "q"):
    return [
        {"conversations": [{"from": "human", "value": f"{prefix} {i}?"}, {"from": "gpt", "value": f"answer {i}."}]}
        for i in range(n)
    ]


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
    from forge.scaffold import init_project

    proj, _ = init_project(tmp_path / "proj")
    write_jsonl(proj.train_file, chat_rows(120))
    write_jsonl(proj.val_file, chat_rows(12, prefix="v"))
    return proj


@pytest.fixture
def external_dir():
    if not EXTERNAL.exists():
        pytest.skip("../shared/data/external not present")
    return EXTERNAL
