"""The trainer-side guard: a non-finite loss stops the run at once (torch).

The check sits in training_step, right after backward and before the optimizer step, so NaN
gradients never reach the weights: the last complete checkpoint stays the last good state and no
NaN adapter can be saved. The Trainer already syncs on every step's loss for its own NaN filter,
so this costs nothing extra.

It also keeps SFTTrainer usable on the CPU: TRL 1.15 computes the loss through a Triton-only fused
LM head, which does not exist without CUDA (or without triton); there the loss comes from the
model's own causal-LM loss on forge's labels instead, normalised the same way (summed over trained
tokens, divided by the trained tokens of the whole accumulated batch).

Tests prove the guard without a diverging run by injecting a NaN from outside (a TrainerCallback
through forge.train.extensions that poisons a LoRA weight): this module reads no test variable.
"""

from __future__ import annotations

import math

from forge.errors import EXIT_FAIL, ForgeError


class NonFiniteLoss(ForgeError):
    exit_code = EXIT_FAIL
    kind = "nan"

    def __init__(self, step: int, value: float, learning_rate: float):
        self.step = step
        self.value = value
        lower = "1e-4 or 5e-5" if learning_rate > 1e-4 else "5e-5 or 2e-5"
        super().__init__(
            f"the loss became {value} at step {step}; training stopped before the weights were updated",
            f"lower training.learning_rate (now {learning_rate:g}) to {lower} and train again; the last good "
            "checkpoint in the output folder is kept, and no adapter was saved from this run",
        )


def fused_lm_head_available() -> bool:
    import torch

    try:
        from trl.trainer import utils as trl_utils
    except ImportError:
        return False
    return getattr(trl_utils, "_ChunkedLogProbFunction", None) is not None and torch.cuda.is_available()


def guarded(trainer_cls: type) -> type:
    """A subclass of `trainer_cls` (SFTTrainer, or Unsloth's) with the non-finite-loss guard."""
    import torch
    from transformers import Trainer

    fused = fused_lm_head_available()

    class ForgeGuardedTrainer(trainer_cls):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if fused:
                out = super().compute_loss(
                    model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
                )
            else:
                inputs["use_cache"] = False
                out = Trainer.compute_loss(
                    self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
                )
            return out

        def training_step(self, *args, **kwargs):
            loss = super().training_step(*args, **kwargs)
            if not bool(torch.isfinite(loss).all()):
                value = float(loss.detach().float().mean().item())
                raise NonFiniteLoss(self.state.global_step + 1, value, self.args.learning_rate)
            return loss

    ForgeGuardedTrainer.__name__ = f"ForgeGuarded{trainer_cls.__name__}"
    return ForgeGuardedTrainer


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
