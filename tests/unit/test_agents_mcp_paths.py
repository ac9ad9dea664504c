"""`forge mcp`: every path stays under --root; the tools' parameters are the CLI's options; listing
them imports no torch; a refusal is a tool error with error, fix and exit_code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from forge.agent.paths import OutsideRoot, confine


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (r / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    (r / "in").symlink_to(r / "proj", target_is_directory=True)
    return r


def test_paths_under_the_root_are_served(root):
    assert confine(root, None) == root.resolve()
    assert confine(root, "") == root.resolve()
    assert confine(root, "proj") == (root / "proj").resolve()
    assert confine(root, str(root / "proj" / "sub")) == (root / "proj" / "sub").resolve()
    assert confine(root, "in/sub") == (root / "proj" / "sub").resolve()  # a link that stays inside


@pytest.mark.parametrize("bad", ["..", "../outside", "proj/../..", "proj/../proj", "/etc", "out", "out/x", "a\x00b"])
def test_paths_that_leave_the_root_are_refused(root, bad):
    with pytest.raises(OutsideRoot) as e:
        confine(root, bad)
    assert e.value.exit_code == 2 and e.value.kind == "outside_root" and e.value.fix


def test_listing_the_tools_imports_no_torch_and_follows_the_cli(tmp_path):
    code = (
        "import sys, json, anyio\n"
        "from forge.agent.server import build_server\n"
        "from forge.cli import app\n"
        f"server = build_server({str(tmp_path)!r}, app)\n"
        "tools = anyio.run(server.list_tools)\n"
        "print(json.dumps({t.name: t.input_schema for t in tools}))\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[-1] == "False False"
    schemas = json.loads(out[-2])
    plan = schemas["plan"]["properties"]
    assert set(plan) == {"directory", "write", "set", "vram_gb", "config"}
    assert plan["vram_gb"]["anyOf"][0]["type"] == "number" and plan["write"]["type"] == "boolean"
    assert plan["set"]["anyOf"][0] == {"items": {"type": "string"}, "type": "array"}
    assert schemas["init"]["required"] == ["directory"]
    assert "--root" in schemas["check"]["properties"]["directory"]["description"]
    # `forge chat`'s options, but one-shot: the prompt the CLI may read from stdin is required here
    chat = schemas["chat"]
    assert set(chat["properties"]) == {"directory", "artifact", "prompt", "system", "config", "set"}
    assert chat["required"] == ["prompt"] and chat["properties"]["prompt"]["type"] == "string"


def test_a_refusal_is_a_tool_error_with_the_json_error_document(tmp_path):
    import anyio

    from forge.agent.server import build_server
    from forge.cli import app

    server = build_server(tmp_path, app)

    async def call(name, args):
        return await server.call_tool(name, args)

    res = anyio.run(call, "status", {"directory": "../elsewhere"})
    doc = json.loads(res.content[0].text)
    assert res.is_error and res.structured_content == doc
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["kind"] == "outside_root" and doc["fix"]
    res = anyio.run(call, "stop", {})
    assert res.is_error and json.loads(res.content[0].text)["exit_code"] == 1
    res = anyio.run(call, "runs", {})
    assert not res.is_error and res.structured_content == {"project": str(tmp_path.resolve()), "runs": []}


def test_chat_before_any_training_is_a_tool_error_naming_the_fix(tmp_path):
    """`chat` runs `forge chat --prompt ... --json` in a child: its refusals (no adapter yet, a bad
    artifact name) come back as tool errors carrying the child's error object and exit code."""
    import anyio

    from forge.agent.server import build_server
    from forge.cli import app

    server = build_server(tmp_path, app)

    async def calls():
        assert not (await server.call_tool("init", {"directory": "proj"})).is_error
        no_adapter = await server.call_tool("chat", {"directory": "proj", "prompt": "hello"})
        bad_name = await server.call_tool("chat", {"directory": "proj", "prompt": "hello", "artifact": "bogus"})
        return no_adapter, bad_name

    no_adapter, bad_name = anyio.run(calls)
    doc = json.loads(no_adapter.content[0].text)
    assert no_adapter.is_error and no_adapter.structured_content == doc and no_adapter.meta["exit_code"] == 1
    assert doc["verb"] == "chat" and doc["exit_code"] == 1 and doc["kind"] == "adapter_missing"
    assert "adapter_model.safetensors" in doc["error"] and "forge train proj" in doc["fix"]
    doc = json.loads(bad_name.content[0].text)
    assert bad_name.is_error and doc["exit_code"] == 2 and "bogus" in doc["error"] and "gguf:" in doc["fix"]
