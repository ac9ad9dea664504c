"""FP8 for the frozen base: who may use `model.load_in_fp8` and `model.fp8_matmul`, and where the
plan turns one on by itself, from same-call measurements (MEASURED) (pure: no torch).

FP8 here is Unsloth's FP8 LoRA: the frozen base weights are quantised once to float8 e4m3 with one
scale per output row (torchao's Float8Tensor), the forward matrix products run on the FP8 tensor
cores, and the LoRA A/B weights, their gradients, the optimizer state and the saved adapter stay
bf16/fp32 exactly as in a bf16 run. So the adapter is an ordinary LoRA adapter over the bf16
base: merge and export fold it into the bf16 weights like any other.

It needs the FP8 matrix units of Hopper (compute capability 9.0: H100, H200) or newer, and
Unsloth's loader (the hf backend has no FP8 path), so both are refused before any weights load,
with the fix named.
"""

from __future__ import annotations

from dataclasses import dataclass

from forge.errors import EXIT_USAGE, ForgeError

MIN_CAPABILITY = (9, 0)

PARITY_TOLERANCE = 0.01
# A measured ratio under this is noise, not a win: same-call arms of the bench differ by about 2%
MIN_SPEEDUP = 1.05
# FP8's gain grows with the products, i.e. with the tokens of a micro-batch (8B shape: 1.01x at
# 13,312 tokens on the H100, 1.12x at 26,624 on the H200; the line between them crosses 1.05 near
# 18,000): a win counts for a plan whose micro-batch holds at least this share of the measured one's
MIN_MICRO_SHARE = 0.7


@dataclass(frozen=True)
class Measured:
    """One same-call bench measurement of an FP8 option against bf16 (docs/benchmarks.md)."""

    option: str  # "fp8_matmul" (forge's FP8 products) or "load_in_fp8" (Unsloth's FP8 LoRA)
    shape: str  # forge.plan.memory.SHAPES name
    card: str  # matched in the GPU's name as torch reports it ("H100", "H200")
    speed: float  # real tokens/s with FP8 / with bf16
    parity: tuple[float, float] | None  # final eval loss after 200 steps: (bf16, FP8), same data and seed
    source: str
    micro_tokens: int | None = None  # tokens of the measured micro-batch (None: not recorded)


# What `forge plan` chooses FP8 from: it turns an option on only for a shape measured faster
# (MIN_SPEEDUP) on that card with loss parity (PARITY_TOLERANCE). One row qualifies: forge's FP8
# products on the 8B shape on the H200 (1.12x bf16 at the plan's 8 x 2 rows; parity from the 200-step
# arms, run on an H100: the same cuBLASLt FP8 kernels, and parity is the arithmetic's). On the H100
# the plan's 4 rows a micro-batch leave the products too small to pay for quantising each input on
# the fly (1.01x), and on the 1B shape FP8 is slower still. Unsloth 2026.10.9's FP8 LoRA dequantises
# each weight to bf16 for the backward, and was slower everywhere.
MEASURED: list[Measured] = [
    Measured("load_in_fp8", "llama-3.2-1b", "H200", 20306 / 39283, (11.5171, 11.5171), "2026-12-01, micro-batch 2"),
    Measured("load_in_fp8", "llama-3.1-8b", "H200", 14208 / 15328, None, "2026-12-01, the plan's settings"),
    Measured(
        "fp8_matmul", "llama-3.2-1b", "H100", 27407 / 45067, (11.5146, 11.5146), "2026-12-07, micro-batch 2", 6656
    ),
    Measured("fp8_matmul", "llama-3.1-8b", "H100", 14878 / 14661, None, "2026-12-07, the plan's settings", 13312),
    # the H200's memory lets the plan take 8 packed rows a micro-batch (the H100's 4): larger products
    Measured(
        "fp8_matmul", "llama-3.1-8b", "H200", 17377 / 15543, None, "2026-12-07, the plan's settings, 8 x 2", 26624
    ),
    Measured(
        "fp8_matmul",
        "llama-3.1-8b",
        "H100",
        12823 / 13735,
        (11.2809, 11.2808),
        "2026-12-07, 200 steps, micro-batch 2",
        6656,
    ),
]


def _capability(text: str | None) -> tuple[int, int] | None:
    try:
        major, minor = (int(x) for x in str(text).split(".")[:2])
    except (TypeError, ValueError):
        return None
    return major, minor


def fp8_refusal(
    backend: str, capability: str | None, gpu_name: str = "", stored_dtype: str | None = None, model: str = ""
) -> ForgeError | None:
    """Why `model.load_in_fp8: true` cannot run on this backend and GPU with these weights, or
    None when it can. stored_dtype: what config.json records (forge.models.facts.stored_dtype)."""
    if backend != "unsloth":
        return ForgeError(
            f"model.load_in_fp8 is true but the {backend} backend has no FP8 path "
            "(FP8 LoRA runs through Unsloth on an NVIDIA Hopper GPU or newer)",
            "set model.load_in_fp8 to false, or train with --backend unsloth on an H100/H200-class GPU",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    cap = _capability(capability)
    if cap is None or cap < MIN_CAPABILITY:
        card = f"{gpu_name} (compute capability {capability})" if gpu_name else f"compute capability {capability}"
        return ForgeError(
            f"model.load_in_fp8 is true but this GPU, {card}, has no FP8 matrix units "
            f"(needs {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]}+: H100, H200 or newer)",
            "set model.load_in_fp8 to false (bf16, or model.load_in_4bit for less memory)",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    dtype = (stored_dtype or "").removeprefix("torch.")
    if dtype and dtype != "bfloat16":
        # Unsloth quantises a copy loaded with torch_dtype="auto", i.e. as stored, whatever dtype
        # forge passes; torchao's row-wise Float8 then refuses every layer ("PerRow quantization
        # only works for bfloat16 precision input weight"), as builtin:tiny-llama did on the H200
        return ForgeError(
            f"model.load_in_fp8 is true but {model or 'the model'} stores its weights in {dtype}: "
            "Unsloth quantises the weights as stored, and row-wise FP8 is made from bfloat16 only",
            "save a bfloat16 copy (AutoModelForCausalLM.from_pretrained(M, dtype=torch.bfloat16)"
            ".save_pretrained(DIR)) and set model.name to DIR, or set model.load_in_fp8 to false",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    return None


def parity_ok(bf16_loss: float, fp8_loss: float, tolerance: float = PARITY_TOLERANCE) -> bool:
    """The parity rule: the FP8 run's final eval loss within `tolerance` (relative) of bf16's."""
    if not (bf16_loss > 0 and fp8_loss == fp8_loss):  # NaN never passes
        return False
    return abs(fp8_loss - bf16_loss) / bf16_loss <= tolerance


def plan_may_choose_fp8(
    option: str,
    shape_name: str | None,
    capability: str | None,
    gpu_name: str,
    backend: str,
    stored_dtype: str | None = None,
    micro_tokens: int | None = None,
) -> tuple[str | None, str]:
    """(reason, "") when `forge plan` may turn model.<option> on for this shape on this card and
    backend, at this many tokens a micro-batch (None: any), else (None, why not): the note the plan
    shows on a card with FP8 units. Whatever check would refuse (fp8_refusals), the plan never chooses."""
    if option == "load_in_fp8":
        refusal = fp8_refusal(backend, capability, gpu_name, stored_dtype)
    else:
        refusal = fp8_matmul_refusal(capability, gpu_name)
    if refusal is not None:
        return None, ""
    card = set((gpu_name or "").split())  # "H100" in "NVIDIA H100 80GB HBM3", never "H20" in "H200"
    ours = [m for m in MEASURED if m.option == option and m.shape == shape_name]
    rows = [m for m in ours if m.card in card]
    # loss parity is the arithmetic's, not the card's: a row from any card counts, and one failed
    # row for the shape is enough to keep the option off
    parity = [m for m in ours if m.parity]
    shown = parity[0] if parity and all(parity_ok(*m.parity) for m in parity) else None
    wins = [m for m in rows if m.speed >= MIN_SPEEDUP]
    faster = next((m for m in wins if _as_large(micro_tokens, m)), None)
    if wins and not faster:
        m = max(wins, key=lambda w: w.speed)
        return None, (
            f"model.{option} stays off: measured {m.speed:.2f}x bf16 on {shape_name} here at {m.micro_tokens:,} "
            f"tokens a micro-batch ({m.source}), but this plan's micro-batch holds {micro_tokens:,}: "
            "smaller products gain less"
        )
    if faster and shown:
        return (
            f"FP8 base weights: measured {faster.speed:.2f}x bf16 on this card ({faster.source}); loss parity "
            f"shown ({shown.parity[0]:.4f} vs {shown.parity[1]:.4f} eval loss, {shown.card}, {shown.source})"
        ), ""
    if not rows:
        return None, f"model.{option} stays off: never measured on {shape_name} on this card"
    if faster:
        failed = next((m for m in parity if not parity_ok(*m.parity)), None)
        if failed:
            why = f"its loss parity failed ({failed.parity[0]:.4f} bf16 vs {failed.parity[1]:.4f}, {failed.source})"
        else:
            arm = "p8" if option == "load_in_fp8" else "pg"  # bench/run.py's parity arm for the option
            why = (
                f"its loss parity on {shape_name} is not shown yet (bench.run --arms p16,{arm}: 200 steps "
                f"within {PARITY_TOLERANCE:.0%} of bf16's eval loss)"
            )
        return (
            None,
            f"model.{option} stays off: measured {faster.speed:.2f}x bf16 on {shape_name} here ({faster.source}), but {why}",
        )
    best = max(rows, key=lambda m: m.speed)
    return None, f"model.{option} stays off: measured {best.speed:.2f}x bf16 on {shape_name} here ({best.source})"


def _as_large(micro_tokens: int | None, m: Measured) -> bool:
    """Whether a plan's micro-batch is large enough for measurement m's speed to carry over."""
    return micro_tokens is None or m.micro_tokens is None or micro_tokens >= MIN_MICRO_SHARE * m.micro_tokens


def fp8_matmul_refusal(capability: str | None, gpu_name: str = "") -> ForgeError | None:
    """Why `model.fp8_matmul: true` cannot run here (no CUDA GPU, or one without FP8 matrix units), or
    None. Either backend runs it: the swap happens on the PEFT model (forge.train.fp8_matmul)."""
    cap = _capability(capability)
    if cap is None:
        return ForgeError(
            "model.fp8_matmul is true but there is no CUDA GPU here: FP8 matrix products run on the "
            "tensor cores of an NVIDIA Hopper GPU (H100, H200) or newer",
            "set model.fp8_matmul to false on this machine (the CPU trains in float32); where an earlier "
            "`forge plan --write` chose it, `forge plan --write` here turns it off",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    if cap < MIN_CAPABILITY:
        card = f"{gpu_name} (compute capability {capability})" if gpu_name else f"compute capability {capability}"
        return ForgeError(
            f"model.fp8_matmul is true but this GPU, {card}, has no row-scaled FP8 products "
            f"(needs {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]}+: H100, H200 or newer)",
            "set model.fp8_matmul to false (bf16, or model.load_in_4bit for less memory); where an earlier "
            "`forge plan --write` chose it, `forge plan --write` here turns it off",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    return None


def fp8_refusals(config, backend: str, hw) -> list[tuple[str, ForgeError]]:
    """(config key, refusal) for each FP8 option the config asks for and this backend and GPU cannot run."""
    gpu = hw.gpus[0] if hw.gpus else None
    cap, name = (gpu.capability, gpu.name) if gpu else (None, "")
    out = []
    if config.model.load_in_fp8:
        from forge.models.facts import stored_dtype

        model = config.model.name
        err = fp8_refusal(backend, cap, name, stored_dtype(model), model)
        if err is not None:
            out.append(("model.load_in_fp8", err))
    if config.model.fp8_matmul:
        err = fp8_matmul_refusal(cap, name)
        if err is not None:
            out.append(("model.fp8_matmul", err))
    return out


FP8_KEYS = ("model.fp8_matmul", "model.load_in_fp8")


def choose_fp8(
    b,
    stored: str | None,
    shape_name: str | None,
    hw,
    backend: str,
    notes: list[str],
    micro_tokens: int | None = None,
    sixteen_bit: bool = True,
) -> None:
    """The plan's FP8 step, once the weights' precision and the micro-batch are chosen (FP8 takes
    the 16-bit memory; its gain depends on the products' size): turn an FP8 option on where MEASURED
    shows it faster with parity on this card, unless the user set either option or a compute dtype
    FP8 cannot keep (the config would refuse the pair). `stored`: the weights' dtype in config.json
    (ModelFacts.dtype). An option an earlier plan turned on (the file says true, the user did not)
    is turned off where it does not hold: another card, no GPU, 4-bit. For a shape in the table, a
    card with FP8 units is told why forge's own FP8 products stay off."""
    if set(FP8_KEYS) & set(b.explicit):
        return
    gpu = hw.gpus[0] if hw.gpus else None
    why_off = "FP8 base weights are chosen only where measured faster on this card (forge.plan.fp8.MEASURED)"
    if gpu is None:
        why_off = "no GPU: FP8 products need an NVIDIA Hopper GPU or newer"
    elif fp8_matmul_refusal(gpu.capability, gpu.name) is not None:  # the one rule for FP8 units
        why_off = f"{gpu.name} has no FP8 matrix units (compute capability {gpu.capability}; H100, H200 or newer have)"
    elif not sixteen_bit:
        why_off = "4-bit weights chosen: FP8 replaces 16-bit weights, not 4-bit"
    elif shape_name and b.current("model.dtype") in (None, "bfloat16"):
        for option in (key.removeprefix("model.") for key in FP8_KEYS):
            dtype = stored if option == "load_in_fp8" else None
            why, off = plan_may_choose_fp8(option, shape_name, gpu.capability, gpu.name, backend, dtype, micro_tokens)
            if why:
                b.set(f"model.{option}", True, why)
                return
            if off and option == "fp8_matmul" and any(m.shape == shape_name for m in MEASURED):
                notes.append(off)
                why_off = off
    for key in FP8_KEYS:
        if b.current(key):  # an earlier plan's choice, for another card or data
            b.set(key, False, why_off)
