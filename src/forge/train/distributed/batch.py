"""Dividing the planned global batch across the processes of a run (torch-free)."""

from __future__ import annotations

from forge.errors import EXIT_USAGE, ForgeError


def divide_batch(per_device: int, accumulation: int, world: int) -> tuple[int, int]:
    """(per-device batch, accumulation) with per_device x accumulation x world = the planned effective batch.

    Prefers dividing the accumulation (the micro-batch, and so the memory per GPU, stays as
    planned); else divides the micro-batch; else finds the largest micro-batch that fits.
    One config so gives the same optimisation on 1, 2 or 8 GPUs, and a checkpoint resumes on any
    number of them (the resume fingerprint holds the global batch, not the split).
    """
    effective = per_device * accumulation
    if world <= 1:
        return per_device, accumulation
    if effective % world:
        raise ForgeError(
            f"the effective batch {per_device} x {accumulation} = {effective} does not divide across {world} processes",
            f"set training.per_device_train_batch_size x gradient_accumulation_steps to a multiple of {world}",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    if accumulation % world == 0:
        return per_device, accumulation // world
    if per_device % world == 0:
        return per_device // world, accumulation
    share = effective // world
    b = max(d for d in range(1, min(per_device, share) + 1) if share % d == 0)
    return b, share // b
