"""The plan's numbers, said with the numbers that were used (torch-free).

The accumulation's reason used to give the effective batch the plan aimed at ("about 3173 tokens
(18 examples), aiming at about 150 optimizer steps") beside a batch of 8 x 2 = 16 examples, 2820
tokens per optimizer step and 171 steps elsewhere in the same output: three numbers for one thing.
`batch_reason` writes it once the steps are known, from the values the run will use:
micro-batch x accumulation x processes = the examples of one optimizer step, its tokens, the
steps an epoch and in all, and the target the accumulation was rounded towards.

The CPU time estimate is a range (`time_range`): the speed model is calibrated on an idle CPU, and
a shared one (other processes on its cores: the load average) trains several times slower; the
high end scales with the load measured when the plan was made.
"""

from __future__ import annotations

# an idle 2-core CPU trained the demo about 1.5x slower than the speed model says (docs/demo.md:
# 180 s measured, 2 min planned), and a machine whose load average is L on C cores gives this
# process about C / (L + 1) of them
IDLE_CPU_SLACK = 1.5
PACKED_FILL = 0.97  # bfd packing fills ~97% of each row


def tokens_per_step(batch: int, accum: int, world: int, tokens_per_row: float, packing: bool) -> int:
    """The tokens one optimizer step trains on: rows x tokens a row (packed rows ~97% full)."""
    return int(batch * accum * world * tokens_per_row * (PACKED_FILL if packing else 1.0))


def batch_reason(
    batch: int,
    accum: int,
    world: int,
    tokens: int,
    mean_len: float,
    packing: bool,
    steps_per_epoch: int,
    total_steps: int,
    epochs: float,
    target: int,
    max_steps: int | None = None,
) -> str:
    """The accumulation's reason, with the numbers the run uses."""
    rows = batch * accum * world
    if packing:
        what = f"{batch} x {accum} x {world} process(es) = {rows} packed rows, about {tokens} tokens"
        what += f" (about {tokens / max(mean_len, 1):.0f} examples of {mean_len:.0f} tokens on average)"
    else:
        what = f"{batch} x {accum} x {world} process(es) = {rows} examples, about {tokens} tokens"
        what += f" ({mean_len:.0f} a mean example)"
    steps = f"{steps_per_epoch} steps an epoch, {total_steps} in {epochs:g} epoch(s)"
    if max_steps:
        steps = f"training.max_steps {max_steps} (an epoch is {steps_per_epoch} steps)"
    return f"{what} per optimizer step: {steps} (aimed at about {target} steps in all; accumulation is a whole number)"


def slowdown(load_average: float | None, cpu_count: int) -> float:
    """How many times the idle-calibrated CPU estimate the run may take, at the load measured now."""
    shared = max(1.0, ((load_average or 0.0) + 1) / max(1, cpu_count))
    return round(IDLE_CPU_SLACK * shared, 2)


def time_range(seconds: float | None, gpu: bool, load_average: float | None, cpu_count: int) -> tuple | None:
    """(low, high) seconds: the estimate itself on a GPU; on a CPU, from idle to the load now."""
    if not seconds:
        return None
    if gpu:
        return seconds, seconds
    return seconds, seconds * slowdown(load_average, cpu_count)


def minutes(rng: tuple | None) -> str:
    """ "about 12 min", or "about 2-14 min" for a range."""
    if not rng:
        return "unknown"
    low, high = (max(1, round(s / 60)) for s in rng)
    return f"about {low} min" if low == high else f"about {low}-{high} min"
