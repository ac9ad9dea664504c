"""`model.load_in_fp8`: who may use it, and where its loss parity was shown (pure: no torch).

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

from forge.errors import EXIT_USAGE, ForgeError

MIN_CAPABILITY = (9, 0)

# Where `forge plan` may choose FP8 on its own: shapes (forge.plan.memory.SHAPES names) whose
# final eval loss after 200 steps stayed within 1% of bf16 on the same data and seed, with the
# measurement it rests on (docs/benchmarks.md, 2026-12-01).
# Empty on purpose. Parity was shown on the Llama-3.2-1B shape (random init, H200, 2026-12-01:
# 11.5171 vs 11.5171 after 200 steps), but FP8 was slower than bf16 in forge's recipe (8B shape at
# the plan's settings 14,208 vs 15,328 tokens/s; 1B at micro-batch 2, 20,306 vs 39,283): Unsloth
# 2026.10.9 runs only the forward product in FP8 and dequantises each weight to bf16 for the
# backward. A plan must not choose a slower setting, so it chooses FP8 nowhere yet.
PARITY_SHOWN: dict[str, str] = {}
PARITY_TOLERANCE = 0.01


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


def plan_may_choose_fp8(shape_name: str | None, capability: str | None, backend: str) -> str | None:
    """The reason `forge plan` may turn FP8 on for this model here, or None (then it stays off)."""
    if shape_name not in PARITY_SHOWN or fp8_refusal(backend, capability) is not None:
        return None
    return f"FP8 base weights: Hopper+ GPU, loss parity shown for {shape_name} ({PARITY_SHOWN[shape_name]})"


def fp8_matmul_refusal(capability: str | None, gpu_name: str = "") -> ForgeError | None:
    """Why `model.fp8_matmul: true` cannot run here (no CUDA GPU, or one without FP8 matrix units), or
    None. Either backend runs it: the swap happens on the PEFT model (forge.train.fp8_matmul)."""
    cap = _capability(capability)
    if cap is None:
        return ForgeError(
            "model.fp8_matmul is true but there is no CUDA GPU here: FP8 matrix products run on the "
            "tensor cores of an NVIDIA Hopper GPU (H100, H200) or newer",
            "set model.fp8_matmul to false on this machine (the CPU trains in float32)",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    if cap < MIN_CAPABILITY:
        card = f"{gpu_name} (compute capability {capability})" if gpu_name else f"compute capability {capability}"
        return ForgeError(
            f"model.fp8_matmul is true but this GPU, {card}, has no row-scaled FP8 products "
            f"(needs {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]}+: H100, H200 or newer)",
            "set model.fp8_matmul to false (bf16, or model.load_in_4bit for less memory)",
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
