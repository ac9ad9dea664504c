"""The trainer-side guard: a non-finite loss stops the run at once (torch).

The check sits in training_step, right after backward and before the optimizer step, so NaN
gradients never reach the weights: the last complete checkpoint stays the last good state and no
NaN adapter can be saved. The Trainer already syncs on every step's loss for its own NaN filter,
so this costs nothing extra.

It also keeps SFTTrainer usable on the CPU: TRL 1.15 computes the loss through a Triton-only fused
LM head, which does not exist without CUDA (or without triton); there the loss comes from the
model's own causal-LM loss on forge's labels instead, normalised the same way (summed over trained
tokens, divided by the trained tokens of the whole accumulated batch).

Test hook: the environment variable FORGE_TEST_NAN_AT_STEP=k makes the training loss of optimizer
step k NaN (through the real backward pass), so tests can prove the guard without a diverging run.
"""

from __future__ import annotations

import math
import os

from forge.errors import EXIT_FAIL, ForgeError

NAN_ENV = "FORGE_TEST_NAN_AT_STEP"


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


def _nan_step() -> int | None:
    raw = os.environ.get(NAN_ENV)
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


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

    nan_at = _nan_step()
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
            if nan_at is not None and model.training and self.state.global_step + 1 == nan_at:
                if return_outputs:
                    return (out[0] * float("nan"), *out[1:])
                return out * float("nan")
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
