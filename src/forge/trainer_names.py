"""The names transformers' Trainer accepts for training.optim, lr_scheduler_type and report_to.

Kept here, not imported: transformers' enums live in modules that import torch, and the config is
validated by `--help`-fast commands (check, plan, schema). tests/unit/test_trainer_names.py reads
the installed transformers' source (ast, no import) and fails when these lists drift from it.
A name outside them used to pass `forge check` and fail `forge train` after the model loaded
("ValueError: bogus_optim is not a valid OptimizerNames").
"""

from __future__ import annotations

import difflib

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
