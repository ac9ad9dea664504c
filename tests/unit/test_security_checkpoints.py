"""Resume loads only checkpoints forge wrote and that are whole (forge.train.integrity; no torch).

Each case builds a checkpoint folder by hand, the way the Trainer and forge's callback write one,
then damages it the way a kill, a full disk or a foreign tool would."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from forge.train.checkpoints import MARKER, mark_complete
from forge.train.integrity import cleanup, manifest, newest_valid, problem, prune, safetensors_problem


def _safetensors(path: Path, n: int = 16) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * (4 * n))


def make_checkpoint(out: Path, step: int, *, marked: bool = True) -> Path:
    c = out / f"checkpoint-{step}"
    c.mkdir(parents=True)
    _safetensors(c / "adapter_model.safetensors")
    (c / "adapter_config.json").write_text("{}")
    (c / "optimizer.pt").write_bytes(b"x" * 64)
    (c / "scheduler.pt").write_bytes(b"x" * 8)
    (c / "rng_state.pth").write_bytes(b"x" * 8)
    (c / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 10}))
    if marked:
        mark_complete(c, {"step": step, "files": manifest(c)})
    return c


def test_a_whole_forge_checkpoint_passes(tmp_path):
    c = make_checkpoint(tmp_path, 2)
    assert problem(c) is None
    assert json.loads((c / MARKER).read_text())["files"]["adapter_model.safetensors"] > 8


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda c: (c / MARKER).unlink(), "no forge-complete.json"),
        (lambda c: (c / "trainer_state.json").write_text(""), "trainer_state.json is empty"),
        (lambda c: (c / "optimizer.pt").unlink(), "optimizer.pt is missing"),
        (lambda c: (c / "scheduler.pt").unlink(), "scheduler.pt is missing"),
        (lambda c: (c / "adapter_model.bin").write_bytes(b"pickle"), "adapter_model.bin: pickled weights"),
        (lambda c: (c / "adapter_model.safetensors").write_bytes(b"\1\0"), "adapter_model.safetensors"),
        (lambda c: (c / MARKER).write_text("{"), "forge-complete.json is unreadable"),
    ],
    ids=["no-marker", "empty-state", "no-optimizer", "no-scheduler", "pickle", "truncated", "bad-marker"],
)
def test_damaged_checkpoints_are_named(tmp_path, damage, named):
    c = make_checkpoint(tmp_path, 2)
    damage(c)
    assert named in (problem(c) or ""), problem(c)


def test_truncation_is_caught_without_a_manifest_too(tmp_path):
    w = tmp_path / "w.safetensors"
    _safetensors(w)
    assert safetensors_problem(w) is None
    w.write_bytes(w.read_bytes()[:-5])
    assert "truncated" in safetensors_problem(w)
    w.write_bytes(b"")
    assert "truncated" in safetensors_problem(w)


def test_newest_valid_skips_with_warnings_and_cleanup_removes_the_rest(tmp_path):
    out = tmp_path / "outputs"
    make_checkpoint(out, 2)
    make_checkpoint(out, 4)
    make_checkpoint(out, 6, marked=False)  # torn by a kill
    bad = make_checkpoint(out, 5)
    (bad / "optimizer.pt").write_bytes(b"")  # size differs from the manifest
    (out / ".deleting-checkpoint-1").mkdir()
    (out / ".forge-run.json.abc.tmp").write_text("")
    (out / "checkpoint-4" / f".{MARKER}.tmp").write_text("")
    warnings: list[str] = []
    best = newest_valid(out, warnings.append)
    assert best.step == 4
    assert any("checkpoint-6" in w and "no forge-complete.json" in w for w in warnings)
    assert any("checkpoint-5" in w and "optimizer.pt" in w for w in warnings)
    removed = cleanup(out, best)
    assert sorted(removed) == sorted(
        [".deleting-checkpoint-1", ".forge-run.json.abc.tmp", "checkpoint-5", "checkpoint-6"]
    ), removed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-2", "checkpoint-4", "set-aside"]
    assert [p.name for p in (out / "set-aside").iterdir()] == ["checkpoint-5"]  # marked: kept, the torn 6 is not
    assert not list((out / "checkpoint-4").glob(".*.tmp"))


def test_prune_keeps_the_newest_complete_and_never_counts_torn_ones(tmp_path):
    out = tmp_path / "outputs"
    for s in (1, 2, 3):
        make_checkpoint(out, s)
    make_checkpoint(out, 4, marked=False)
    assert prune(out, 2) == ["checkpoint-1"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-2", "checkpoint-3", "checkpoint-4"]


def test_forge_train_defaults_are_safe():
    from forge.config import ForgeConfig

    cfg = ForgeConfig()
    assert cfg.model.trust_remote_code is False
    import inspect

    from forge import cli

    src = inspect.getsource(cli)
    assert '"127.0.0.1", "--host"' in src.replace("\n", "").replace("        ", "")
