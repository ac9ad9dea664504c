"""`forge mcp` driven by the mcp SDK's own client over stdio, as an agent framework drives it: the whole
workflow on builtin:tiny-llama (check, plan, baseline, train, wait, evaluate, export, verify, runs,
chat), each result checked against the file forge wrote, and the refusals (paths out of the root, stop
with nothing running, a second train, chat before any training) as tool errors that carry error, fix
and exit_code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SRC = str(Path(__file__).resolve().parents[2] / "src")


def tiny_config(root: Path, steps: int = 12) -> None:
    from forge.config import default_config_dict

    cfg = default_config_dict()
    cfg["model"].update({"name": "builtin:tiny-llama", "max_seq_length": 64, "load_in_4bit": False})
    cfg["dataset"]["chat_template"] = "llama-3"
    cfg["training"].update(
        {
            "max_steps": steps,
            "learning_rate": 5e-3,
            "warmup_steps": 1,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "save_steps": 4,
        }
    )
    cfg["lora"].update({"r": 16, "lora_alpha": 32})
    cfg["evaluation"].update({"generation_samples": 2, "max_new_tokens": 8})
    (root / "training-config.json").write_text(json.dumps(cfg, indent=2))


def data(root: Path) -> None:
    from tests.slow.test_train import _rows

    for name, rows in (("train", _rows(64, "q")), ("val", _rows(8, "v"))):
        (root / "data" / "splits" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def doc(result) -> dict:
    """A tool result's document: its structured content, which is the text content's JSON too."""
    text = json.loads(result.content[0].text)
    assert result.structured_content == text
    return text


def read(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_text())


def is_record(d: dict, f: dict, extra: tuple = ()) -> bool:
    """The tool's document is the record forge wrote, key for key, inside the --json envelope
    (`ok` and `verb` come first where the record has no keys of those names); `extra`: keys the
    verb's --json adds beside its record (export's gate verdict, its evaluated artifacts)."""
    skip = {"ok", "verb", *extra}
    return {k: v for k, v in d.items() if k in f or k not in skip} == f and "verb" in d


async def _session(root: Path, steps):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {"PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    for key in ("HOME", "FORGE_CACHE", "HF_HOME", "TMPDIR"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    params = StdioServerParameters(command=sys.executable, args=["-m", "forge", "mcp", "--root", str(root)], env=env)
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        await steps(s)


def test_the_whole_workflow_through_the_mcp_client(tmp_path):
    import anyio

    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    proj = root / "proj"

    async def steps(s):
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == {
            *("init", "check", "plan", "baseline", "train", "status", "wait", "stop", "runs"),
            *("evaluate", "export", "verify", "inspect", "chat"),
        }
        # the CLI's own options (`forge train --help`), but never --json or --detach
        train_props = tools["train"].input_schema["properties"]
        assert {"directory", "set", "config", "resume", "force", "gpus", "nproc"} <= set(train_props)
        assert not {"json", "json_out", "detach"} & set(train_props)
        assert set(tools["wait"].input_schema["properties"]) == {"directory", "timeout"}
        # one-shot chat: the prompt is required (`forge chat` would read stdin or open a dialogue)
        assert tools["chat"].input_schema["required"] == ["prompt"]
        assert {"artifact", "system", "config", "set"} <= set(tools["chat"].input_schema["properties"])

        # paths out of the root: tool errors, nothing read or written there
        for bad in ("../outside", str(outside), "escape", "proj/../../outside"):
            res = await s.call_tool("init", {"directory": bad})
            err = doc(res)
            assert res.is_error and err["exit_code"] == 2 and err["kind"] == "outside_root", err
            assert err["error"] and err["fix"]
        res = await s.call_tool("check", {"directory": ".", "config": "../outside/c.json"})
        assert res.is_error and doc(res)["kind"] == "outside_root"
        assert list(outside.iterdir()) == []

        init = doc(await s.call_tool("init", {"directory": "proj"}))
        assert init["ok"] and Path(init["project"]) == proj and "training-config.json" in init["written"]
        data(proj)
        tiny_config(proj)

        res = await s.call_tool("stop", {"directory": "proj"})
        err = doc(res)
        assert res.is_error and err["exit_code"] == 1 and err["kind"] == "not_running" and err["fix"]

        res = await s.call_tool("chat", {"directory": "proj", "prompt": "hello"})
        err = doc(res)
        assert res.is_error and res.meta["exit_code"] == err["exit_code"] == 1 and err["kind"] == "adapter_missing"
        assert "forge train proj" in err["fix"]

        check = doc(await s.call_tool("check", {"directory": "proj"}))
        items = {i["name"]: i for sec in check["sections"].values() for i in sec}
        assert check["project"] == str(proj) and items["train split exists"]["status"] == "ok"

        plan = doc(await s.call_tool("plan", {"directory": "proj"}))
        assert plan["written"] is False and plan["project"] == str(proj) and plan["settings"]

        progress: list = []

        async def heard(p, total, message):
            progress.append((p, total, message))

        base = await s.call_tool("baseline", {"directory": "proj"}, progress_callback=heard)
        assert is_record(doc(base), read(proj, "metrics/baseline.json")) and base.meta["exit_code"] == 0

        started = doc(await s.call_tool("train", {"directory": "proj"}))
        status = read(proj, ".factory/training-status.json")
        assert started["run_id"] == status["run_id"] and started["pid"] > 0
        assert Path(started["log"]) == proj / "logs" / "training.log" and Path(started["status"]).is_file()

        # a second train on the locked project: refused, the running one untouched
        again = await s.call_tool("train", {"directory": "proj"})
        assert again.is_error and doc(again)["exit_code"] == 1 and doc(again)["kind"] == "locked"

        progress.clear()
        waited = await s.call_tool("wait", {"directory": "proj", "timeout": 600}, progress_callback=heard)
        final = doc(waited)
        status = read(proj, ".factory/training-status.json")
        assert waited.meta["exit_code"] == 0 and final["effective_phase"] == "done"
        assert final["run_id"] == status["run_id"] == started["run_id"] and final["step"] == status["step"] == 12
        assert progress and all(total in (None, 12) for _, total, _ in progress)

        evaluation = await s.call_tool("evaluate", {"directory": "proj"}, progress_callback=heard)
        ev = doc(evaluation)
        assert is_record(ev, read(proj, "metrics/evaluation.json"))
        assert evaluation.meta["exit_code"] == (0 if ev["passed"] else 3) and not evaluation.is_error

        exported = doc(await s.call_tool("export", {"directory": "proj", "merged": True}))
        report = read(proj, "metrics/export-report.json")

        # the --json document names files by their full path, the report (mostly) relative to the
        # project, so that a moved project still reads right: the same files either way
        def rel(d):
            return json.loads(json.dumps(d).replace(str(proj.resolve()) + "/", ""))

        assert is_record(rel(exported), rel(report), extra=tuple(set(exported) - set(report))) and exported["ok"]

        verify = doc(await s.call_tool("verify", {"directory": "proj"}))
        items = {i["name"]: i for sec in verify["sections"].values() for i in sec}
        assert items["adapter_model.safetensors"]["status"] == "ok" and verify["project"] == str(proj)

        runs = doc(await s.call_tool("runs", {"directory": "proj"}))["runs"]
        assert [r["verb"] for r in runs] == ["baseline", "train", "evaluate", "export"]
        trained = runs[1]
        stats = read(proj, "metrics/training-stats.json")
        assert trained["run_id"] == stats["run_id"] and trained["outcome"] == "done" and trained["steps"] == 12
        assert trained["final_loss"] == stats["final_loss"] and trained["adapter"] == "models/checkpoints/lora"
        assert trained["gate_passed"] is ev["passed"] and runs[2]["adapter_run_id"] == trained["run_id"]
        lines = (proj / "metrics" / "runs.jsonl").read_text().splitlines()
        assert len(lines) == 8 and all(json.loads(line)["run_id"] for line in lines)

        # chat (after runs: it leaves no entry there): the trained adapter answers, as `forge chat --json`
        res = await s.call_tool("chat", {"directory": "proj", "prompt": "q1", "system": "Be brief."})
        said = doc(res)
        assert not res.is_error and res.meta["exit_code"] == 0 and said["prompt"] == "q1"
        assert said["artifact"] == "adapter" and Path(said["path"]) == proj / "models" / "checkpoints" / "lora"
        assert isinstance(said["answer"], str) and said["answer"].strip()

        # resources: the status file's view, a metrics record, the log's last lines
        got = await s.read_resource("forge://status?project=proj")
        assert json.loads(got.contents[0].text)["run_id"] == trained["run_id"]
        got = await s.read_resource("forge://metrics/training-stats.json?project=proj")
        assert json.loads(got.contents[0].text) == stats
        got = await s.read_resource("forge://log?project=proj&lines=5")
        assert got.contents[0].text.splitlines() == (proj / "logs" / "training.log").read_text().splitlines()[-5:]
        with pytest.raises(Exception):  # noqa: B017 - the SDK's error for a refused resource read
            await s.read_resource("forge://status?project=escape")

    anyio.run(_session, root, steps)
