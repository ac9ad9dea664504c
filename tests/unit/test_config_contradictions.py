"""Contradictory or empty settings are config errors by key, before any model loads.

QA: `training.fp16` and `training.bf16` both true passed check; transformers' TrainingArguments
raises on it once the model has loaded on a GPU, and the CPU path dropped both without a word.
"""

from __future__ import annotations

import pytest

from forge.config import ConfigError, validate_dict


def test_fp16_and_bf16_both_true_is_an_error_of_bf16():
    with pytest.raises(ConfigError) as e:
        validate_dict({"training": {"fp16": True, "bf16": True}})
    assert e.value.keys == ["training.bf16"]
    assert "fp16 is true as well" in e.value.message


@pytest.mark.parametrize("fp16,bf16", [(True, False), (False, True), (None, True), (True, None), (None, None)])
def test_one_precision_or_none_loads(fp16, bf16):
    cfg = validate_dict({"training": {"fp16": fp16, "bf16": bf16}})
    assert (cfg.training.fp16, cfg.training.bf16) == (fp16, bf16)


@pytest.mark.parametrize("key", ["learning_rate", "num_train_epochs"])
def test_infinity_is_not_a_learning_rate_or_an_epoch_count(key):
    # QA: `--set training.learning_rate=Infinity` (json.loads reads it) passed check
    with pytest.raises(ConfigError) as e:
        validate_dict({"training": {key: float("inf")}})
    assert e.value.keys == [f"training.{key}"] and "finite" in e.value.message
