"""forge's lists of the Trainer's names (forge.config.trainer_names) match the installed transformers,
read from its source with ast (importing it would import torch)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from forge.config.trainer_names import OPTIMIZERS, SCHEDULERS, TRACKERS


def _source(module: str) -> ast.Module:
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.origin:
        pytest.skip("transformers not installed")
    root = Path(spec.origin).parent
    return ast.parse((root / module).read_text(encoding="utf-8"))


def _enum(module: str, name: str) -> list[str]:
    for node in ast.walk(_source(module)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return [
                s.value.value
                for s in node.body
                if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)
            ]
    raise AssertionError(f"{name} not found in transformers/{module}")


def test_optimizers_match_transformers():
    assert sorted(OPTIMIZERS) == sorted(_enum("training_args.py", "OptimizerNames"))


def test_schedulers_match_transformers():
    assert sorted(SCHEDULERS) == sorted(_enum("trainer_utils.py", "SchedulerType"))


def test_trackers_match_transformers():
    for node in ast.walk(_source("integrations/integration_utils.py")):
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", "") == "INTEGRATION_TO_CALLBACK" for t in node.targets
        ):
            assert sorted(TRACKERS) == sorted(k.value for k in node.value.keys)
            return
    raise AssertionError("INTEGRATION_TO_CALLBACK not found")
