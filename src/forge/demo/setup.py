"""The demo's model and project: what to train on this machine, and the example folder to train in.

The model is chosen like a real project's: on a GPU the VRAM table's model (and `forge plan` for
the rest); on a CPU `builtin:gemma-3-270m`, the real Gemma 3 270M, with settings measured to
finish in minutes (docs/demo.md); `--quick` uses `builtin:tiny-llama` and finishes in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from forge.errors import EXIT_USAGE, ForgeError, UsageError
from forge.project import Project

DEFAULT_DIR = "forge-demo"
EXAMPLE = "support"
QUICK_MODEL = "builtin:tiny-llama"
CPU_MODEL = "builtin:gemma-3-270m"
VLM_MODEL = "builtin:tiny-gemma3-vlm"  # the image example's model off a GPU (and with --quick)

# --quick: a tiny random model learns the answers' frequent tokens fast with a high learning rate.
QUICK = {
    "model": {"max_seq_length": 192},
    "lora": {"r": 16, "lora_alpha": 32},
    "training": {
        "max_steps": 30,
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-2,
        "warmup_steps": 2,
        "save_steps": 30,
        "logging_steps": 5,
    },
    # A randomly initialised tiny model cannot fall far in seconds: its output layer is frozen
    # (LoRA adapts attention and MLP) and gives near-uniform logits, so the loss drops by about
    # 5-6% at most (measured: 5.2% after 30 steps, 5.8% after 60). The quick demo shows the
    # workflow with a 2% gate; the full demo keeps the default 5%.
    "evaluation": {"generation_samples": 4, "max_new_tokens": 24, "gate_threshold": 0.02},
}


def choose_model(quick: bool, example: str = EXAMPLE) -> tuple[str, str, dict]:
    """(model, why, config overrides for the hardware); the image example needs a vision-language model."""
    images = example == "shapes"
    if quick:
        return (VLM_MODEL if images else QUICK_MODEL), "--quick: a tiny built-in model", QUICK
    from forge.plan.hardware import probe

    hw = probe()
    if hw.has_gpu:
        from forge.plan.vram_table import table_row

        row = table_row(hw.vram_gb)
        reachable, problem = _model_reachable(row.model) if row is not None else (False, "")
        if row is None or not reachable:
            why = f"GPU {hw.gpus[0].name}, but " + (problem or f"{hw.vram_gb} GB is below the VRAM table")
            return CPU_MODEL, f"{why}: the built-in Gemma 3 270M", {}
        gpu = {
            "model": {"load_in_4bit": True, "max_seq_length": 512},
            "lora": {"r": row.r, "lora_alpha": 2 * row.r},
            "training": {
                "per_device_train_batch_size": row.batch,
                "gradient_accumulation_steps": row.accumulation,
                "max_steps": None,
                "num_train_epochs": 2,
                "optim": "adamw_torch",
                "learning_rate": 2e-4,
            },
            # images need the model's own multimodal template (forge's gemma-3 is text-only)
            "dataset": {"chat_template": "auto" if images else "gemma-3"},
        }
        return row.model, f"GPU {hw.gpus[0].name} ({hw.vram_gb} GB): the VRAM table's model", gpu
    if images:
        return VLM_MODEL, "no GPU: the tiny built-in Gemma 3 vision-language model", QUICK
    return CPU_MODEL, "no GPU: the real Gemma 3 270M, built in (offline)", {}


def require_cpu_model() -> None:
    """The CPU demo's model needs the optional `demo` packages: say so before anything is written."""
    from forge.models.builtin_gemma import INSTALL_FIX, available

    if not available():
        raise ForgeError(
            f"the CPU demo uses {CPU_MODEL}, whose optional packages are not installed",
            fix=f"{INSTALL_FIX}; or try the workflow with `forge demo --quick`",
            exit_code=EXIT_USAGE,
        )


def _model_reachable(name: str) -> tuple[bool, str]:
    """Whether the VRAM table's model is cached or downloadable (the demo falls back when not)."""
    from forge.models.loader import resolve_model_path

    try:
        resolve_model_path(name)
    except ForgeError as e:
        return False, e.message.removeprefix("model not found: ")
    return True, ""


def prepare_project(directory: Path, model: str, extra: dict, example: str = EXAMPLE) -> Project:
    """Init the example project; a folder from an earlier demo is reused with its outputs cleared."""
    from forge.config import default_config_dict, validate_dict
    from forge.data.examples import example_config_overrides, is_example_project
    from forge.files import atomic_write_text
    from forge.init.scaffold import init_project

    if directory.exists() and any(directory.iterdir()) and not is_example_project(directory):
        raise UsageError(
            f"{directory} exists and is not a forge demo project; the demo will not write into it",
            f"choose another folder: forge demo DIR (the default is ./{DEFAULT_DIR})",
        )
    project = Project.at(directory)
    if is_example_project(project.root):
        # outputs of an earlier run: only inside a folder the demo made (it carries the marker)
        for rel in ("outputs", "models/checkpoints", "models/quantized", "metrics", ".factory"):
            shutil.rmtree(project.root / rel, ignore_errors=True)
        for rel in ("logs/training.log",):
            (project.root / rel).unlink(missing_ok=True)
    project, _ = init_project(project.root, example=example, model=model)
    # The demo owns this folder's config: rewrite it for this model and machine (a quick run
    # after a full one must not inherit gemma's settings, and vice versa).
    config = default_config_dict()
    for section, values in example_config_overrides(example, model).items():
        config[section].update(values)
    for section, values in extra.items():
        config[section].update(values)
    validate_dict(config, "demo config")
    atomic_write_text(project.config_file, json.dumps(config, indent=2) + "\n")
    return project
