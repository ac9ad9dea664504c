"""Every bad image input through the CLI: `forge check` says not ready (exit 1) naming each file:line
with its fix, `forge train` refuses (exit 2) with the same lines before any model loads, and
neither changes a file of the project. Images given to a text-only model are refused the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import forge_here
from tests.unit.test_image_data import BAD, _png, openai, sharegpt

from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

TRAIN = "data/splits/train.jsonl"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file of the project but the refusal's own record: a refused train writes its status
    (.factory/) and a log line, by design (forge.train.run_status), so that the UI shows why."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in (".factory", "logs")
    }


def _project(root: Path, rows: list[dict], model: str = "builtin:tiny-gemma3-vlm") -> Path:
    proj, _ = init_project(root)
    _png(root / "data/images/red.png")
    (root / "data/images/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    _png(root / "data/images/big.png", size=(120, 100))
    good = [openai("../images/red.png", f"What colour is {i}?") for i in range(4)]
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in good + rows))
    proj.val_file.write_text(json.dumps(sharegpt("<image>What colour?", ["../images/red.png"])) + "\n")
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"].update(name=model, load_in_4bit=False, max_seq_length=128)
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    return root


def test_each_bad_image_is_refused_by_check_and_train_with_its_line(tmp_path, monkeypatch):
    root = _project(tmp_path / "p", [bad for bad, _, _ in BAD])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # data/images/big.png (120x100) is over it
    before = _tree(root)
    r = forge_here("check", str(root), "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    text = r.stdout
    r = forge_here("train", str(root))
    assert r.returncode == 2, r.stdout + r.stderr
    for k, (_, kind, words) in enumerate(BAD, start=5):
        line = f"{TRAIN}:{k}: "
        assert line in text and words in text, (kind, line)
        assert line in r.stderr, (kind, r.stderr[-2000:])
    assert "http(s) URL: forge does not download images at train time; fix: save the image inside" in text
    assert _tree(root) == before  # a refused run changes nothing


def test_images_for_a_text_only_model_are_refused(tmp_path):
    root = _project(tmp_path / "t", [], model="builtin:tiny-gemma3")
    before = _tree(root)
    r = forge_here("check", str(root), "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"5 image(s) in the data (first at {TRAIN}:1), and builtin:tiny-gemma3 is a text-only model" in r.stdout
    r = forge_here("train", str(root))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "is a text-only model" in r.stderr and "use a vision-language model" in r.stderr
    assert _tree(root) == before
