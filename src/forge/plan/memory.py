"""Model shapes and the GPU memory / speed estimate of a LoRA run (pure: no torch).

The estimate is a sum of named parts so that `forge plan` can show where the memory goes:

- weights: every parameter at 2 bytes (16-bit), or, with `load_in_4bit`, the linear layers of the
  decoder at 4 bits plus their quantisation state (bitsandbytes NF4 with double quantisation:
  about 0.53 bytes a parameter) and the embeddings / LM head at 2 bytes (never quantised);
- LoRA: r * (in + out) parameters per adapted linear layer, kept in float32, with their float32
  gradients and the optimizer's two moments (8-bit AdamW: 2 bytes, AdamW: 8 bytes a parameter);
- activations per token: with gradient checkpointing only each layer's input is kept (Unsloth's
  "unsloth" mode even moves it to host memory) plus one layer being recomputed, which with its
  gradients holds about twice what the layer saves; without checkpointing,
  every saved tensor of every layer: the norms' outputs, q/k/v, the attention output, the MLP's gate,
  up and activation, the LoRA intermediates;
- logits: micro-batch tokens x vocabulary, in bf16 and float32 for the loss and its gradient
  (Unsloth's fused, chunked cross-entropy never holds them all; transformers does);
- overhead: the CUDA context, cuBLAS workspaces and the caching allocator's slack (8% of what
  comes and goes in a step, 2% of the weights, which are allocated once);
- shared: with checkpointing and a fused loss, the logits chunk (the forward's end) and the
  recomputed layer (the backward) are never live together: the smaller is counted once.

Coefficients were calibrated against measured peaks on an H100 (docs/gpu-validation.md); they are
deliberately simple so that a reader can check them by hand.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from forge.models.shape import SHAPES, ModelShape, shape_for_name

GB = 1024**3
# the name table, for planning a model that is not on disk yet (forge.models.facts reads the rest)
shape_for = shape_for_name
__all__ = ["SHAPES", "ModelShape", "shape_for", "estimate_memory", "max_tokens_that_fit", "MemoryEstimate"]


# ------------------------------------------------------------------ memory


@dataclass
class MemoryEstimate:
    weights_gb: float
    lora_gb: float
    optimizer_gb: float
    activations_gb: float
    logits_gb: float
    overhead_gb: float
    tokens_per_micro_batch: int
    context_gb: float = 0.6  # of overhead_gb: the CUDA context, outside torch's allocator (0 on a CPU)
    # checkpointed runs with a fused loss: the logits chunk (the forward's end) and the recomputed
    # layer (the backward) are never live together, so the smaller is taken off the sum once
    shared_gb: float = 0.0

    @property
    def total_gb(self) -> float:
        return round(
            self.weights_gb
            + self.lora_gb
            + self.optimizer_gb
            + self.activations_gb
            + self.logits_gb
            + self.overhead_gb
            - self.shared_gb,
            2,
        )

    @property
    def torch_peak_gb(self) -> float:
        """What torch.cuda.max_memory_reserved() should read: everything but the CUDA context (on a
        CPU, where there is none, the whole estimate)."""
        return round(self.total_gb - self.context_gb, 2)

    def to_dict(self) -> dict:
        d = {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}
        d["total_gb"] = self.total_gb
        d["torch_peak_gb"] = self.torch_peak_gb
        return d


CUDA_CONTEXT_GB = 0.6  # context + cuBLAS/cuDNN handles, outside torch's allocator
USABLE_VRAM = 0.88  # of the card's memory the estimate may fill (the rest: other processes, spikes)
# reserved over allocated, from fragmentation: the step's tensors come and go in many sizes; the
# weights are allocated once, in place (the 27B-it: 18.35 GB reserved over 17.99 allocated, of
# which 16 GB weights; 8% of them was 1.3 GB of slack nobody saw)
ALLOCATOR_SLACK = 0.08
WEIGHT_SLACK = 0.02
# a checkpointed layer's backward holds its recomputed activations and their gradients: about
# twice what the layer saves (the 27B-it's peak grew 0.41 GB per 1,000 tokens, H100 2026-12-07)
RECOMPUTE_FACTOR = 2.0
LOGIT_CHUNK = 1024  # tokens of float32 logits Unsloth's chunked cross-entropy holds at once


# The per-layer counts below match the measured peaks to a few percent (docs/gpu-validation.md:
# Qwen 2.5 0.5B came out 0.3% under); this margin keeps the estimate on the high side.
ACTIVATION_MARGIN = 1.03


def activation_bytes_per_token(
    shape: ModelShape,
    gradient_checkpointing: bool | str,
    backend: str = "unsloth",
    lora_r: int = 16,
    recompute: float = RECOMPUTE_FACTOR,
) -> float:
    """Bytes of saved activations per trained token, summed over the layers (16-bit activations).
    Checkpointed: the kept layer inputs plus `recompute` x one layer's saved set (0: the inputs only)."""
    h, q, kv, i = shape.hidden, shape.q_dim, shape.kv_dim, shape.intermediate
    if backend == "unsloth":
        # Unsloth's kernels: fused RMSNorm saves its input, fused SwiGLU recomputes the product,
        # RoPE in place. Calibrated on Llama-3.2-1B on an H100 (docs/gpu-validation.md).
        per_layer = 4 * h + 2 * q + 2 * kv + 2 * i + 7 * lora_r
    else:
        # transformers eager modules: each op's output is saved for backward.
        per_layer = 6 * h + 2 * q + 2 * kv + 4 * i + 7 * lora_r
    if shape.gemma3:
        # the two extra (post-attention, post-MLP) norms keep their inputs, and GeGLU keeps the
        # activated gate beside gate and up: about 1.4x a Llama layer of the same size, as the H200
        # measured for Gemma 3 1B text and the figure for 4B-it says (docs/gpu-validation.md)
        per_layer += 2 * h + i
    full = 2 * shape.layers * per_layer * ACTIVATION_MARGIN
    if not gradient_checkpointing:
        return full
    if gradient_checkpointing == "unsloth" and backend == "unsloth":
        # the layer inputs go to host memory, but three stay on the card: the last layer's (never
        # offloaded) and the two GPU buffers of the double-buffered copy back for backward
        # (unsloth_zoo/gradient_checkpointing.py). Without them the 12B-it at 24 GB read 2% over
        # the estimate (H200, 2026-12-01, docs/gpu-validation.md).
        kept_inputs = 3 * 2 * h
    else:
        kept_inputs = 2 * shape.layers * h
    return kept_inputs + recompute * full / shape.layers  # one layer recomputed at a time


def vision_activation_bytes(vision: dict, images: float, trained: bool, gradient_checkpointing) -> float:
    """16-bit bytes the vision tower holds for `images` pictures in one micro-batch. A frozen tower
    keeps nothing for backward: one layer's working set a picture. With adapters in it
    (lora.finetune_vision_layers) every layer keeps its inputs (eager modules: 6h + 4i a patch, as
    activation_bytes_per_token counts a text layer), or, checkpointed, one input a layer."""
    h = int(vision.get("hidden_size", 0) or 0)
    if not h or images <= 0:
        return 0.0
    i = int(vision.get("intermediate_size", 4 * h))
    layers = int(vision.get("num_hidden_layers", 0))
    patches = (int(vision.get("image_size", 224)) // int(vision.get("patch_size", 14))) ** 2
    layer = 2 * patches * (6 * h + 4 * i)
    if not trained:
        return images * layer
    kept = 2 * patches * h * layers + layer if gradient_checkpointing else layer * layers
    return images * kept * ACTIVATION_MARGIN


def fused_loss(shape: ModelShape, backend: str) -> bool:
    """Unsloth's chunked cross-entropy never holds the logits of the whole micro-batch. Measured on
    an H200 (2026-12-01, docs/gpu-validation.md): the same holds for Gemma 3 4B-it's multimodal
    wrapper (5.16 GB peak where full logits alone would have been 7.5 GB)."""
    return backend == "unsloth"


def logits_bytes_per_token(shape: ModelShape, backend: str) -> float:
    if fused_loss(shape, backend):
        # fused cross-entropy in chunks; the bf16 hidden state and a chunk of logits stay
        return 2 * shape.hidden + 0.0
    # bf16 logits, their float32 upcast for the loss, and the float32 gradient
    return (2 + 4 + 4) * shape.vocab


def estimate_memory(
    shape: ModelShape,
    *,
    tokens_per_micro_batch: int,
    load_in_4bit: bool,
    lora_r: int,
    targets: list[str] | tuple[str, ...],
    gradient_checkpointing: bool | str,
    optim: str = "adamw_8bit",
    backend: str = "unsloth",
    device: str = "cuda",
    vision_bytes: float = 0.0,
    vision_frozen: bool = False,
) -> MemoryEstimate:
    """The peak of one LoRA training step. device="cpu": the hf backend's float32 weights and
    activations in host memory, no CUDA context (what `forge check` compares with the RAM)."""
    linear = shape.layers * shape.layer_linear_params
    other = shape.params - linear
    cpu = device == "cpu"
    if cpu:
        weights = shape.params * 4  # the hf backend trains in float32 on the CPU
    elif load_in_4bit:
        weights = linear * 0.53 + other * 2
    else:
        weights = shape.params * 2
    lora_n = shape.lora_params(lora_r, targets)
    lora = lora_n * (4 + 4)  # fp32 weights + fp32 grads
    opt_bytes = 2 if "8bit" in optim else 8
    optimizer = lora_n * opt_bytes
    acts = tokens_per_micro_batch * activation_bytes_per_token(shape, gradient_checkpointing, backend, lora_r)
    logits = tokens_per_micro_batch * logits_bytes_per_token(shape, backend)
    if fused_loss(shape, backend):
        logits += min(tokens_per_micro_batch, LOGIT_CHUNK) * shape.vocab * 4  # one float32 chunk
    # the images' pass through the vision tower (vision_activation_bytes). A frozen tower runs
    # without autograd (forge.train.frozen_tower) before the decoder keeps anything: its working set
    # is gone by the decoder's peak, so only the larger of the two counts
    acts = max(acts, vision_bytes) if vision_frozen else acts + vision_bytes
    if cpu:
        acts, logits = acts * 2, logits * 1.6  # float32 activations; logits already count their fp32 copies
    shared = 0.0
    if gradient_checkpointing and fused_loss(shape, backend) and not cpu:
        # the fused loss frees its chunk before the backward recomputes the first layer
        kept = tokens_per_micro_batch * activation_bytes_per_token(shape, gradient_checkpointing, backend, lora_r, 0.0)
        shared = min(logits, acts - kept)
    dynamic = acts + logits - shared
    context = 0.0 if cpu else CUDA_CONTEXT_GB * GB
    overhead = context + ALLOCATOR_SLACK * dynamic + WEIGHT_SLACK * weights + 0.25 * GB
    return MemoryEstimate(
        weights_gb=weights / GB,
        lora_gb=lora / GB,
        optimizer_gb=optimizer / GB,
        activations_gb=acts / GB,
        logits_gb=logits / GB,
        overhead_gb=overhead / GB,
        tokens_per_micro_batch=tokens_per_micro_batch,
        context_gb=context / GB,
        shared_gb=shared / GB,
    )


def max_tokens_that_fit(
    shape: ModelShape,
    budget_gb: float,
    *,
    load_in_4bit: bool,
    lora_r: int,
    targets: list[str] | tuple[str, ...],
    gradient_checkpointing: bool | str,
    optim: str,
    backend: str,
) -> int:
    """The largest micro-batch (in tokens) whose estimate stays under budget_gb (0 if none does)."""
    lo, hi = 0, 1 << 20
    kw = dict(
        load_in_4bit=load_in_4bit,
        lora_r=lora_r,
        targets=targets,
        gradient_checkpointing=gradient_checkpointing,
        optim=optim,
        backend=backend,
    )
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_memory(shape, tokens_per_micro_batch=mid, **kw).total_gb <= budget_gb:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ------------------------------------------------------------------ speed

# Dense bf16 tensor-core peaks (TFLOP/s) by GPU class, from the vendors' datasheets; the first
# fragment found in the device name wins.
GPU_PEAK_TFLOPS = (
    ("h200", 989.0),
    ("h100", 989.0),
    ("gh200", 989.0),
    ("b200", 2250.0),
    ("a100", 312.0),
    ("a800", 312.0),
    ("l40s", 362.0),
    ("l40", 181.0),
    ("a6000", 155.0),
    ("a40", 150.0),
    ("4090", 165.0),
    ("5090", 210.0),
    ("3090", 71.0),
    ("a10", 125.0),
    ("l4", 121.0),
    ("t4", 65.0),
    ("v100", 125.0),
)


def gpu_peak_tflops(name: str | None) -> float | None:
    if not name:
        return None
    n = name.lower()
    for frag, tf in GPU_PEAK_TFLOPS:
        if frag in n:
            return tf
    return None


def flops_per_token(shape: ModelShape, seq_len: int, lora_r: int, targets, gradient_checkpointing) -> float:
    """The full count for LoRA training, per trained token.

    4N for the frozen matmuls (forward 2N, backward through activations 2N; no weight gradients),
    +2N more when checkpointing recomputes the forward, 6 x LoRA parameters, and causal attention
    (forward 2 x 2 x seq x q_dim / 2 per layer, backward twice that).
    """
    n = shape.matmul_params
    base = (6 if gradient_checkpointing else 4) * n
    lora = 6 * shape.lora_params(lora_r, targets)
    attn = 3 * 2 * shape.layers * seq_len * shape.q_dim  # (fwd 2*s*q/2*2) * 3 for fwd+bwd
    return base + lora + attn


def tokens_per_second(
    shape: ModelShape,
    gpu_name: str | None,
    *,
    seq_len: int,
    lora_r: int,
    targets,
    gradient_checkpointing,
    load_in_4bit: bool,
    backend: str,
    tokens_per_micro_batch: int,
) -> float | None:
    """A model of real tokens/s: an MFU that grows with the model and the micro-batch, over the peak."""
    peak = gpu_peak_tflops(gpu_name)
    if peak is None:
        return None
    # Small models and small micro-batches leave the tensor cores idle between launches.
    size = min(1.0, math.log10(max(shape.matmul_params, 1e6) / 1e7) / 3)  # 0 at 10M .. 1 at 10B
    fill = min(1.0, tokens_per_micro_batch / 16384) ** 0.5
    # calibrated on the H100 (docs/benchmarks.md, 2026-11-26): full-count MFU 36% (1B), 45% (8B) at plan settings
    mfu = (0.10 + 0.36 * size) * (0.35 + 0.65 * fill)
    if backend != "unsloth":
        mfu *= 0.6
    if load_in_4bit:
        mfu *= 0.7  # dequantisation on every matmul
    flops = flops_per_token(shape, seq_len, lora_r, targets, gradient_checkpointing)
    return mfu * peak * 1e12 / flops
