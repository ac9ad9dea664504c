"""A value no member of a union key accepts is one problem in a user's words; counts are in range.

QA: `training.eval_steps: "abc"` answered two problems, `training.eval_steps.constrained-int: input
should be a valid integer ...` and `training.eval_steps.literal['auto']: input should be 'auto'`
(pydantic's member names, not keys of the file); `training.eval_samples` took 0, -5 and true.
"""

from __future__ import annotations

import pytest

from forge.config import ConfigError, validate_dict


@pytest.mark.parametrize(
    "section,key,value,words",
    [
        ("training", "eval_steps", "abc", 'expected a whole number (1 or more) or "auto" or null (got "abc")'),
        ("training", "save_steps", None, 'expected a whole number (1 or more) or "auto" (got null)'),
        ("training", "report_to", 5, "expected a string or a list of strings (got 5)"),
        ("dataset", "min_samples", "many", 'expected a whole number (1 or more) or "auto" (got "many")'),
        ("lora", "use_gradient_checkpointing", 3, 'expected true or false or "unsloth" (got 3)'),
    ],
)
def test_one_problem_a_union_key(section, key, value, words):
    with pytest.raises(ConfigError) as e:
        validate_dict({section: {key: value}})
    assert e.value.problems == [f"{section}.{key}: {words}"]
    assert e.value.keys == [f"{section}.{key}"]


@pytest.mark.parametrize("value", [0, -5, True])
def test_eval_samples_out_of_range(value):
    with pytest.raises(ConfigError) as e:
        validate_dict({"training": {"eval_samples": value}})
    assert "1 or more" in e.value.message and e.value.keys == ["training.eval_samples"]


@pytest.mark.parametrize("value", [1, 32, "auto", None])
def test_eval_samples_in_range(value):
    assert validate_dict({"training": {"eval_samples": value}}).training.eval_samples == value


def test_the_schema_key_is_named_by_its_alias():
    with pytest.raises(ConfigError) as e:
        validate_dict({"$schema": 5})
    assert e.value.keys == ["$schema"]
