"""`model.fp8_matmul`: real FP8 matrix products for the frozen base weights (torch inside).

A LoRA run never updates the base weights, so each frozen linear takes part in two products only:
the forward (y = x W^T) and the input gradient (dx = dy W). Both run here as FP8 products on the
tensor cores (torch._scaled_mm, e4m3 with one scale per row), while the LoRA A/B products, their
gradients, the optimizer and everything trainable stay in bf16 exactly as in a bf16 run. No
weight gradient is ever formed for the base, so nothing dequantises the weights back to bf16
(which is what made Unsloth 2026.10.9's FP8 LoRA slower than bf16: docs/benchmarks.md).

The weight is quantised once, at load, with one scale per output row s[n] = amax|W[n, :]| / 448:
- forward: y = (x_q * sx) (W_q * s)^T, x quantised per row (token) on the fly;
- backward: dx = dy diag(s) W_q: the row scales of W fold into dy's columns before dy is
  quantised per row, so the product needs no scale on W's side.
cuBLASLt's FP8 products take the second operand column-major, so each product needs W_q in its
own layout: W_q (N x K, forward) and W_q^T (K x N, backward). Both together cost 2 bytes a weight,
what bf16 costs: this option trades no memory, only time.

The adapter stays an ordinary PEFT adapter over the bf16 base (the base_layer swap below holds no
trainable tensor), so export merges into the bf16 weights from disk as after any run.
"""

from __future__ import annotations

E4M3_MAX = 448.0
# cuBLASLt's FP8 products need both dimensions of the weight to be multiples of 16
ALIGN = 16


def _quantise_rows(t, col_scale=None):
    """t (M x K) -> (t_q e4m3, scale M x 1 fp32) with t * col_scale ~= t_q * scale, one scale per row.
    col_scale (1 x K) folds a per-column factor in first (the weight's row scales, in the backward)."""
    import torch

    t = t.float() if col_scale is None else t.float() * col_scale
    amax = t.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12)
    scale = amax / E4M3_MAX
    q = (t / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale


_QUANTISE = None


def quantise(t, col_scale=None):
    """_quantise_rows as one fused kernel on the GPU: in eager mode its five passes over the
    activations cost more than the FP8 product saves (1B shape on an H100: 0.47x of bf16)."""
    global _QUANTISE
    if not t.is_cuda:
        return _quantise_rows(t, col_scale)
    if _QUANTISE is None:
        import torch

        _QUANTISE = torch.compile(_quantise_rows, dynamic=True)
    return _QUANTISE(t, col_scale)


# The last input quantised for a forward product, with the quantisation: Unsloth's fused kernels
# multiply one X by Q, K and V (and by gate and up), so two of every three quantisations of x were
# repeats. The entry holds x itself, so its memory cannot be reused under the same address while
# cached; the version counter catches an in-place change. FORGE_FP8_REUSE=0 quantises every time.
_LAST: list = [None]


def quantise_input(x, padded):
    """quantise(padded), x padded to whole rows of 16, reused when the same x (storage, shape,
    strides, version) comes again."""
    import os

    import torch

    last = _LAST[0]
    if (
        last is not None
        and last[0].data_ptr() == x.data_ptr()
        and last[0].shape == x.shape
        and last[0].stride() == x.stride()
        and last[0].dtype == x.dtype
        and last[1] == x._version
    ):
        return last[2]
    with torch.no_grad():  # the gradient goes to x through the product's own backward, not this
        q = quantise(padded)
    # detached: the same storage and version counter, without keeping x's autograd graph alive
    _LAST[0] = None if os.environ.get("FORGE_FP8_REUSE") == "0" else (x.detach(), x._version, q)
    return q


# How the FP8 products accumulate (FORGE_FP8_ACCUM; the bench's arms g / g2 / g3 compare them):
# - "exact" (default): both products on torch's row-scaled kernel with fp32 accumulation;
# - "fast-forward": torchao's float8 recipe: the forward with fast accumulation, the input
#   gradient on cuBLAS's per-tensor kernel with dy's row scales applied to its output after (torch's
#   row-scaled kernel was much slower without fast accumulation: pytorch/pytorch#147971);
# - "fast": both with fast accumulation.
# Same call, 8B shape, H200, 2026-12-07 (docs/benchmarks.md, eleventh session): "exact" 17,377
# real tok/s, "fast-forward" 16,423, bf16 15,543: on torch 2.11 the row-scaled kernel is the faster
# one, and the per-tensor detour's extra pass over dx costs more than it saves.
ACCUM_MODES = ("exact", "fast-forward", "fast")


def accum_mode() -> str:
    import os

    from forge.errors import EXIT_USAGE, ForgeError

    mode = os.environ.get("FORGE_FP8_ACCUM") or ACCUM_MODES[0]
    if mode not in ACCUM_MODES:
        raise ForgeError(
            f"FORGE_FP8_ACCUM={mode!r} is not a way the FP8 products accumulate",
            f"set FORGE_FP8_ACCUM to one of {', '.join(ACCUM_MODES)}, or unset it ({ACCUM_MODES[0]})",
            exit_code=EXIT_USAGE,
            kind="config",
        )
    return mode


def scaled_mm(a_q, b_q, scale_a, scale_b):
    """The forward product a_q b_q with row scales of a and column scales of b, out in bf16. On CUDA
    the FP8 tensor-core product; elsewhere (unit tests of the scale arithmetic on the CPU) the same
    sum in fp32."""
    import torch

    if a_q.is_cuda:
        return _mm(a_q, b_q, scale_a, scale_b, fast=accum_mode() != "exact")
    return ((a_q.float() * scale_a) @ (b_q.float() * scale_b)).to(torch.bfloat16)


def _mm(a_q, b_q, scale_a, scale_b, fast: bool):
    import torch

    return torch._scaled_mm(a_q, b_q, scale_a=scale_a, scale_b=scale_b, out_dtype=torch.bfloat16, use_fast_accum=fast)


_ONE: dict = {}


def scaled_mm_rows(a_q, b_q, scale_a, ones_b):
    """The input-gradient product a_q b_q, where only a has (row) scales: b's are ones_b (1 x K)."""
    import torch

    if not a_q.is_cuda:
        return scaled_mm(a_q, b_q, scale_a, ones_b)
    mode = accum_mode()
    if mode != "fast-forward":
        return _mm(a_q, b_q, scale_a, ones_b, fast=mode == "fast")
    one = _ONE.get(a_q.device)
    if one is None:
        one = _ONE[a_q.device] = torch.ones((), device=a_q.device, dtype=torch.float32)
    return _mm(a_q, b_q, one, one, fast=False).mul_(scale_a)


def _function():
    import torch

    class FrozenFP8Product(torch.autograd.Function):
        """x (M x K) -> x W^T (M x N) with W held as FP8; gradient for x only."""

        @staticmethod
        def forward(ctx, x, x_q, x_s, w_q, w_t_q, w_scale_row, ones_k):
            # x itself only carries the gradient: its quantisation (x_q, x_s) comes in made
            y = scaled_mm(x_q, w_q.t(), x_s, w_scale_row)
            ctx.save_for_backward(w_t_q, w_scale_row, ones_k)
            return y

        @staticmethod
        def backward(ctx, dy):
            w_t_q, w_scale_row, ones_k = ctx.saved_tensors
            # dx = dy diag(s) W_q: fold W's row scales into dy's columns, then quantise dy per row
            g_q, g_s = quantise(dy, w_scale_row)
            dx = scaled_mm_rows(g_q, w_t_q.t(), g_s, ones_k)
            return dx, None, None, None, None, None, None

    return FrozenFP8Product


_FN = None


def _padded(t):
    """t with rows appended up to a multiple of 16 (what _scaled_mm takes), and its own row count."""
    import torch

    rows = t.shape[0]
    pad = (-rows) % ALIGN
    return (torch.nn.functional.pad(t, (0, 0, 0, pad)) if pad else t), rows


def forward_product(x2, parts):
    """x2 (M x K) @ W^T through the autograd function: the input gradient comes back as an FP8 product."""
    import torch

    global _FN
    if _FN is None:
        _FN = _function()
    x2 = x2.to(torch.bfloat16)
    xp, rows = _padded(x2)
    x_q, x_s = quantise_input(x2, xp)
    y = _FN.apply(xp, x_q, x_s, *parts)
    return y[:rows] if y.shape[0] != rows else y


def input_grad_product(dy2, parts):
    """dy2 (M x N) @ W, the input gradient's product, for callers already inside a backward."""
    w_q, w_t_q, w_scale_row, ones_k = parts
    gp, rows = _padded(dy2)
    g_q, g_s = quantise(gp, w_scale_row)
    dx = scaled_mm_rows(g_q, w_t_q.t(), g_s, ones_k)
    return dx[:rows] if dx.shape[0] != rows else dx


def quantised_parts(weight):
    """(W_q, W_q^T, row scales 1 x N, ones 1 x K): W quantised once, in both layouts the products take."""
    import torch

    w = weight.detach().to(torch.bfloat16)
    w_q, s = _quantise_rows(w)
    ones = torch.ones(1, w.shape[1], device=w.device)
    return w_q.contiguous(), w_q.t().contiguous(), s.view(1, -1).contiguous(), ones


def _module_class():
    import torch

    class FrozenFP8Linear(torch.nn.Module):
        """Stands in for a frozen nn.Linear (the base_layer of a PEFT LoRA layer)."""

        def __init__(self, linear: torch.nn.Linear):
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            for name, t in zip(("w_q", "w_t_q", "w_scale_row", "ones_k"), quantised_parts(linear.weight), strict=True):
                self.register_buffer(name, t, persistent=False)
            self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach(), requires_grad=False)

        @property
        def weight(self):  # what readers of base_layer.weight (dtype, device, shape) see
            return self.w_q

        def forward(self, x, *args, **kwargs):
            shape = x.shape
            y = forward_product(x.reshape(-1, shape[-1]), (self.w_q, self.w_t_q, self.w_scale_row, self.ones_k))
            if self.bias is not None:
                y = y + self.bias.to(y.dtype)
            return y.reshape(*shape[:-1], self.out_features)

    return FrozenFP8Linear


def convertible(linear) -> bool:
    import torch

    w = getattr(linear, "weight", None)
    return (
        type(linear) is torch.nn.Linear
        and w is not None
        and not w.requires_grad
        and w.dtype in (torch.bfloat16, torch.float16, torch.float32)
        and w.shape[0] % ALIGN == 0
        and w.shape[1] % ALIGN == 0
    )


def convert(model) -> tuple[int, int]:
    """Swap the base_layer of every LoRA linear for its FP8 stand-in; returns (swapped, kept).
    Kept: layers whose shape cuBLASLt's FP8 products cannot take (they stay bf16)."""

    cls = _module_class()

    def swap(module, base):
        module.base_layer = cls(base)

    return swap_bases(model, swap)


def swap_bases(model, swap) -> tuple[int, int]:
    """swap(lora_module, base_linear) for every LoRA layer whose frozen base FP8 can take; returns
    (swapped, kept in bf16). The one walk both designs (whole layers, FP8 weights) share."""
    import torch

    swapped = kept = 0
    for module in list(model.modules()):
        base = getattr(module, "base_layer", None)
        if base is None or not hasattr(module, "lora_A"):
            continue
        if convertible(base):
            swap(module, base)
            swapped += 1
        elif isinstance(base, torch.nn.Linear):
            kept += 1
    torch.cuda.empty_cache()
    return swapped, kept


def unfuse_unsloth(model) -> int:
    """Unsloth's fused LoRA kernels (FastLanguageModel's MLP / QKV / O patches) read the base weight
    directly and multiply it in bf16; with FP8 base layers the modules go back to PEFT's forward,
    which calls base_layer (the FP8 product). Returns how many modules were put back."""
    try:
        from unsloth.models.llama import original_apply_o, original_apply_qkv
    except ImportError:
        return 0
    n = 0
    for module in model.modules():
        if "forward" in vars(module) and hasattr(module, "gate_proj") and hasattr(module, "down_proj"):
            del module.forward  # the class's own MLP forward again
            n += 1
        if hasattr(module, "apply_qkv") and module.apply_qkv is not original_apply_qkv:
            module.apply_qkv = original_apply_qkv
            n += 1
        if hasattr(module, "apply_o") and module.apply_o is not original_apply_o:
            module.apply_o = original_apply_o
            n += 1
    return n
