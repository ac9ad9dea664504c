"""The names transformers' Trainer accepts for training.optim, lr_scheduler_type and report_to.

Kept here, not imported: transformers' enums live in modules that import torch, and the config is
validated by `--help`-fast commands (check, plan, schema). tests/unit/test_trainer_names.py reads
the installed transformers' source (ast, no import) and fails when these lists drift from it.
A name outside them used to pass `forge check` and fail `forge train` after the model loaded
("ValueError: bogus_optim is not a valid OptimizerNames").
"""

from __future__ import annotations

import difflib
import json
import math

# transformers.training_args.OptimizerNames
OPTIMIZERS = (
    "adamw_torch", "adamw_torch_fused", "adamw_torch_xla", "adamw_torch_npu_fused", "adafactor",
    "adamw_anyprecision", "adamw_torch_4bit", "adamw_torch_8bit", "ademamix", "sgd", "adagrad",
    "adamw_bnb_8bit", "adamw_8bit", "ademamix_8bit", "lion_8bit", "lion_32bit", "paged_adamw_32bit",
    "paged_adamw_8bit", "paged_ademamix_32bit", "paged_ademamix_8bit", "paged_lion_32bit", "paged_lion_8bit",
    "rmsprop", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit", "galore_adamw", "galore_adamw_8bit",
    "galore_adafactor", "galore_adamw_layerwise", "galore_adamw_8bit_layerwise", "galore_adafactor_layerwise",
    "lomo", "adalomo", "grokadamw", "schedule_free_radam", "schedule_free_adamw", "schedule_free_sgd",
    "apollo_adamw", "apollo_adamw_layerwise", "stable_adamw",
)  # fmt: skip
# transformers.trainer_utils.SchedulerType
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
    "warmup_stable_decay", "greedy",
)  # fmt: skip
# transformers.integrations.integration_utils.INTEGRATION_TO_CALLBACK -> the module each one imports
# (what must be installed for the Trainer to accept it); "none" and "all" are the Trainer's own words
TRACKERS = {
    "azure_ml": "azureml",
    "comet_ml": "comet_ml",
    "mlflow": "mlflow",
    "neptune": "neptune",
    "tensorboard": "tensorboard",
    "trackio": "trackio",
    "wandb": "wandb",
    "codecarbon": "codecarbon",
    "clearml": "clearml",
    "dagshub": "dagshub",
    "flyte": "flytekit",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "kubeflow": "kubeflow",
}
TRACKER_WORDS = ("none", "all")
# tensorboard is reported through either package (transformers tries torch.utils.tensorboard, then tensorboardX)
TRACKER_ALTERNATIVES = {"tensorboard": ("tensorboard", "tensorboardX")}


def check_name(value: str, valid: tuple[str, ...] | list[str], what: str) -> str:
    """`value` if transformers knows it; else a ValueError naming the nearest valid name."""
    if value in valid:
        return value
    near = difflib.get_close_matches(value, valid, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise ValueError(f"{value!r} is not {what} transformers knows; {hint}valid: {', '.join(valid)}")


def tracker_list(value: str | list[str]) -> list[str]:
    """report_to as the Trainer reads it: one name, or a list (a string is one name: the Trainer
    does not split "wandb,tensorboard")."""
    return [value.strip()] if isinstance(value, str) else [s.strip() for s in value]


# ------------------------------------------------------------------ lr_scheduler_kwargs
# transformers.optimization.get_scheduler passes TrainingArguments.lr_scheduler_kwargs to the schedule
# function of TYPE_TO_SCHEDULER_FUNCTION as keyword arguments; these are each function's own, less
# the ones the Trainer passes itself (optimizer, num_warmup_steps, num_training_steps) and
# last_epoch (the Trainer restores the schedule from a checkpoint). reduce_lr_on_plateau's are
# torch's ReduceLROnPlateau's, greedy's transformers' GreedyLR's. A tuple: the words it accepts.
# tests/unit/test_scheduler_kwargs.py reads these signatures from the installed sources.
# Before: lr_scheduler_type=cosine_with_min_lr passed `forge check` and failed `forge train` after
# the model loaded ("One of min_lr or min_lr_rate should be set through the lr_scheduler_kwargs"),
# and no key of training-config.json could set them.
_SHAPES = ("linear", "cosine", "1-sqrt")
_PLATEAU = {
    "mode": ("min", "max"),
    "factor": float,
    "patience": int,
    "threshold": float,
    "threshold_mode": ("rel", "abs"),
    "cooldown": int,
    "min_lr": float,
    "eps": float,
}
SCHEDULER_KWARGS: dict[str, dict[str, type | tuple[str, ...]]] = {
    "linear": {},
    "cosine": {"num_cycles": float},
    "cosine_with_restarts": {"num_cycles": int},
    "polynomial": {"lr_end": float, "power": float},
    "constant": {},  # get_scheduler drops any kwargs for these two: refused rather than ignored
    "constant_with_warmup": {},
    "inverse_sqrt": {"timescale": int},
    "reduce_lr_on_plateau": _PLATEAU,
    "cosine_with_min_lr": {"num_cycles": float, "min_lr": float, "min_lr_rate": float},
    "cosine_warmup_with_min_lr": {"num_cycles": float, "min_lr": float, "min_lr_rate": float, "warmup_lr_rate": float},
    "warmup_stable_decay": {
        "num_decay_steps": int,
        "num_stable_steps": int,
        "warmup_type": _SHAPES,
        "decay_type": _SHAPES,
        "min_lr_ratio": float,
        "num_cycles": float,
    },
    "greedy": {
        **_PLATEAU,
        "warmup": int,
        "max_lr": float,
        "verbose": bool,
        "smooth": bool,
        "window_size": int,
        "reset_start": int,
    },
}
# What a schedule cannot run without (transformers raises once the model has loaded), with the
# example the error shows; "one of" groups take exactly one of their names.
SCHEDULER_NEEDS: dict[str, tuple[tuple[str, ...], dict]] = {
    "cosine_with_min_lr": (("min_lr", "min_lr_rate"), {"min_lr_rate": 0.1}),
    "cosine_warmup_with_min_lr": (("min_lr", "min_lr_rate"), {"min_lr_rate": 0.1}),
    "warmup_stable_decay": (("num_decay_steps",), {"num_decay_steps": 100}),
}
# Schedules that step on the eval loss: the Trainer refuses them without an eval strategy.
EVAL_SCHEDULERS = ("reduce_lr_on_plateau", "greedy")
# The lower bound of each number (inclusive unless in _ABOVE), and the upper bound where it has one
# (exclusive for factor: torch and transformers raise "Factor should be < 1.0"); beyond them the
# schedule raises at its first step, divides by zero, or turns the learning rate negative.
_AT_LEAST = {
    "patience": 0, "cooldown": 0, "warmup": 0, "reset_start": 0, "num_stable_steps": 0, "min_lr": 0,
    "min_lr_rate": 0, "warmup_lr_rate": 0, "min_lr_ratio": 0, "eps": 0, "max_lr": 0, "lr_end": 0,
    "threshold": 0, "num_decay_steps": 1, "timescale": 1, "window_size": 1,
}  # fmt: skip
_ABOVE = {"factor": 0, "num_cycles": 0, "power": 0}
_AT_MOST = {"min_lr_rate": 1, "warmup_lr_rate": 1, "min_lr_ratio": 1}
_BELOW = {"factor": 1}
POLYNOMIAL_LR_END = 1e-7  # get_polynomial_decay_schedule_with_warmup's default lr_end


def kwargs_text(kwargs: dict) -> str:
    """A kwargs dict as the config file spells it."""
    return json.dumps(kwargs)


def scheduler_kwargs_problems(name: str, kwargs: dict, learning_rate: float | None = None) -> list[str]:
    """What get_scheduler(name, ..., scheduler_specific_kwargs=kwargs) would raise on (or silently
    ignore), one sentence each with its fix; [] when the schedule will build."""
    accepted = SCHEDULER_KWARGS.get(name)
    if accepted is None:
        return []  # the name itself is refused by check_name
    if not accepted and kwargs:
        verb = "ignore" if name.startswith("constant") else "refuse"  # get_scheduler drops them / a TypeError
        return [
            f"the {name} schedule takes no arguments (transformers would {verb} {', '.join(kwargs)}): set it to {{}}"
        ]
    problems = []
    for key, value in kwargs.items():
        kind = accepted.get(key)
        if kind is None:
            problems.append(_unknown(name, key, accepted))
            continue
        problem = _bad_value(key, value, kind)
        if problem:
            problems.append(f"{key} {problem}")
    needs = SCHEDULER_NEEDS.get(name)
    if needs:
        names, example = needs
        given = [n for n in names if n in kwargs]
        if not given:
            what = names[0] if len(names) == 1 else f"one of {' or '.join(names)}"
            problems.append(
                f"the {name} schedule needs {what}: set training.lr_scheduler_kwargs to e.g. {kwargs_text(example)} "
                f"(--set 'training.lr_scheduler_kwargs={kwargs_text(example)}')"
            )
        elif len(names) > 1 and len(given) > 1:
            problems.append(f"the {name} schedule takes one of {' or '.join(names)}, not both: drop one")
    if name == "polynomial" and learning_rate is not None:
        end = kwargs.get("lr_end", POLYNOMIAL_LR_END)
        if isinstance(end, (int, float)) and not isinstance(end, bool) and end >= learning_rate:
            given = "" if "lr_end" in kwargs else " (its default)"
            problems.append(
                f"lr_end {end:g}{given} must be below training.learning_rate ({learning_rate:g}): the polynomial "
                "schedule decays from the learning rate down to lr_end; set lr_end lower"
            )
    return problems


def _unknown(name: str, key: str, accepted: dict) -> str:
    near = difflib.get_close_matches(key, list(accepted), n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"{key} is not an argument of the {name} schedule; {hint}it takes: {', '.join(accepted)}"


def _bad_value(key: str, value, kind) -> str | None:
    if isinstance(kind, tuple):
        return None if value in kind else f"must be one of {', '.join(repr(k) for k in kind)} (got {value!r})"
    if kind is bool:
        return None if isinstance(value, bool) else f"must be true or false (got {value!r})"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and not (number and isinstance(value, int)):
        return f"must be a whole number (got {value!r})"
    if not number or not math.isfinite(value):
        return f"must be a number (got {value!r})"
    if key in _AT_LEAST and value < _AT_LEAST[key]:
        return f"must be {_AT_LEAST[key]} or more (got {value!r})"
    if key in _ABOVE and value <= _ABOVE[key]:
        return f"must be above {_ABOVE[key]} (got {value!r})"
    if key in _AT_MOST and value > _AT_MOST[key]:
        return f"must be {_AT_MOST[key]} or less (got {value!r})"
    if key in _BELOW and value >= _BELOW[key]:
        return f"must be below {_BELOW[key]} (got {value!r})"
    return None
