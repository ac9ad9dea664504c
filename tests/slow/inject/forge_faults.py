"""Faults injected into a forge run from outside (tests only): a CUDA OOM at an optimizer step or
in an eval, a NaN loss at a step. Each is a TrainerCallback registered through
forge.train.extensions, so forge's production modules read no test variable.

In-process tests call `install(...)`; subprocess tests put this folder on PYTHONPATH, where
`sitecustomize.py` calls `install_from_env()` with the variables below at interpreter start:

    FORGE_TEST_OOM_AT_STEP=k   torch.OutOfMemoryError at the start of optimizer step k while the
                               micro-batch is above 1 (FORGE_TEST_OOM_TIMES=n: the first n times)
    FORGE_TEST_OOM_IN_EVAL=n   torch.OutOfMemoryError in the first n eval batches
    FORGE_TEST_NAN_AT_STEP=k   a LoRA weight becomes NaN before optimizer step k, so that step's
                               loss is NaN through the real forward and backward pass
    FORGE_TEST_EVAL_DELAY=s    every eval batch sleeps s seconds (a slow eval, for signal tests)
    FORGE_TEST_STEP_DELAY=s    every optimizer step ends s seconds later (a run that outlasts the
                               commands a test sends it, however fast the machine)
"""

from __future__ import annotations

import os
import time


def _int(env, name: str) -> int:
    try:
        return int(env.get(name, "") or 0)
    except ValueError:
        return 0


def make_injector(
    oom_at: int = 0, oom_times: int = 1, oom_in_eval: int = 0, nan_at: int = 0, eval_delay=0.0, step_delay=0.0
):
    import torch
    from transformers import TrainerCallback

    fired = {"train": 0, "eval": 0}

    class FaultInjector(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            step = state.global_step + 1
            if oom_at and step == oom_at and args.per_device_train_batch_size > 1 and fired["train"] < oom_times:
                fired["train"] += 1
                raise torch.OutOfMemoryError(f"CUDA out of memory (injected at step {oom_at})")
            if nan_at and step == nan_at and model is not None:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        if p.requires_grad and "lora_B" in name:
                            p.fill_(float("nan"))
                            break

        def on_step_end(self, args, state, control, **kwargs):
            if step_delay:
                time.sleep(step_delay)

        def on_prediction_step(self, args, state, control, **kwargs):
            if oom_in_eval and fired["eval"] < oom_in_eval:
                fired["eval"] += 1
                raise torch.OutOfMemoryError("CUDA out of memory (injected in eval)")
            if eval_delay:
                time.sleep(eval_delay)

    return FaultInjector()


def install(**faults) -> None:
    """Every later run in this process gets a fresh injector with these faults."""
    from forge.train import extensions

    extensions.register_callback(lambda: make_injector(**faults))


def install_from_env(env=None) -> None:
    env = os.environ if env is None else env
    faults = {
        "oom_at": _int(env, "FORGE_TEST_OOM_AT_STEP"),
        "oom_times": _int(env, "FORGE_TEST_OOM_TIMES") or 1,
        "oom_in_eval": _int(env, "FORGE_TEST_OOM_IN_EVAL"),
        "nan_at": _int(env, "FORGE_TEST_NAN_AT_STEP"),
        "eval_delay": float(env.get("FORGE_TEST_EVAL_DELAY", "") or 0),
        "step_delay": float(env.get("FORGE_TEST_STEP_DELAY", "") or 0),
    }
    if any(v for k, v in faults.items() if k != "oom_times"):
        install(**faults)
