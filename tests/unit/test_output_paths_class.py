"""No verb reads a run's outputs at the project's default folders: the config's keys say where.

QA: train's summary said "adapter in models/checkpoints/lora" (project.lora_dir) for a run whose
save.lora_path was models/exp1, and evaluate looked for GGUF files in models/quantized whatever
save.gguf_path said. `Project.outputs(cfg)` is the one reader of save.lora_path, merged_path,
gguf_path and training.output_dir; the Project's default properties are what it falls back to.
This keeps the source from going back to them.
"""

from __future__ import annotations

import re
from pathlib import Path

from forge.config import validate_dict
from forge.project import Project

SRC = Path(__file__).resolve().parents[2] / "src" / "forge"
DEFAULTS = re.compile(
    r"\b(?:project|proj|p|self\.project|recipe\.project)\.(lora_dir|merged_dir|quantized_dir|outputs_dir)\b"
)


def test_no_module_reads_the_default_output_folders():
    found = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "project.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DEFAULTS.search(line)
    ]
    assert not found, "use Project.outputs(cfg) (the config's folders), not the defaults:\n" + "\n".join(found)


def test_outputs_are_the_configs_folders(tmp_path):
    p = Project.at(tmp_path)
    cfg = validate_dict(
        {"save": {"lora_path": "models/exp1", "gguf_path": "/abs/gguf"}, "training": {"output_dir": "outputs-exp1"}}
    )
    out = p.outputs(cfg)
    assert out.lora == p.root / "models" / "exp1" and out.gguf == Path("/abs/gguf")
    assert out.merged == p.merged_dir and out.checkpoints == p.root / "outputs-exp1"
    assert p.rel(out.lora) == "models/exp1" and p.rel(out.gguf) == "/abs/gguf"


def test_evaluate_notes_the_gguf_files_of_the_configs_gguf_folder(tmp_path):
    from forge.evaluate.evaluation import _gguf_note

    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "m-Q8_0.gguf").write_bytes(b"GGUF")
    assert _gguf_note(folder)["file"] == "m-Q8_0.gguf"
