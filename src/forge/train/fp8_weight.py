"""The FP8 base weight that Unsloth's fused LoRA kernels multiply without knowing it (torch inside).

Unsloth's fused LoRA kernels (LoRA_MLP, LoRA_QKV, LoRA_W) read `base_layer.weight` and multiply it
with torch.matmul / addmm in their own forward and backward, fusing the LoRA terms and recomputing
activations to save memory. Putting those modules back on PEFT's forward (so that base_layer can
be an FP8 module) lost that fusion and ran at 0.47x of bf16 (1B shape, H100, 2026-12-07). So the
weight itself carries the FP8 products instead: a tensor that reports the bf16 weight's shape and
dtype, and answers the few operations the kernels apply to a weight:
- `.t()` / `.T`: the transposed view (no copy: both layouts are held, forge.train.fp8_matmul);
- `a @ W^T` (matmul, addmm, F.linear): the forward product, x quantised per row;
- `a @ W`: the input-gradient product, dy with W's row scales folded in, quantised per row.
Anything else that would need the weight's values fails loudly rather than computing in bf16.
"""

from __future__ import annotations

_CLS = None


def fp8_weight_class():
    global _CLS
    if _CLS is not None:
        return _CLS
    import torch
    import torch.nn.functional as F

    from forge.train.fp8_matmul import forward_product, input_grad_product

    T = {torch.Tensor.t, torch.t, torch.Tensor.T.__get__}
    MATMUL = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm}
    ADDMM = {torch.addmm, torch.Tensor.addmm, torch.Tensor.addmm_}

    class FP8Weight(torch.Tensor):
        @staticmethod
        def __new__(cls, parts, transposed=False):
            n, k = parts[0].shape
            shape = (k, n) if transposed else (n, k)
            t = torch.Tensor._make_wrapper_subclass(
                cls, shape, dtype=torch.bfloat16, device=parts[0].device, requires_grad=False
            )
            t._parts, t._transposed = parts, transposed
            return t

        def __repr__(self, *, tensor_contents=None):
            return f"FP8Weight(shape={tuple(self.shape)}, transposed={self._transposed})"

        def times(self, a):
            """a @ self, for a of any leading shape."""
            lead = a.shape[:-1]
            a2 = a.reshape(-1, a.shape[-1])
            y = forward_product(a2, self._parts) if self._transposed else input_grad_product(a2, self._parts)
            return y.reshape(*lead, y.shape[-1])

        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            raise NotImplementedError(
                f"model.fp8_matmul: {func} reached a frozen FP8 base weight, which answers only its products; "
                "set model.fp8_matmul to false for this model"
            )

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in T:
                return cls(args[0]._parts, not args[0]._transposed)
            if func in MATMUL and isinstance(args[1], cls) and not isinstance(args[0], cls):
                y = args[1].times(args[0])
                out = kwargs.get("out")
                return y if out is None else out.copy_(y)
            if func in ADDMM and len(args) >= 3 and isinstance(args[2], cls):
                acc, a, w = args[:3]
                beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
                y = w.times(a)
                if func is torch.Tensor.addmm_:
                    return (acc.mul_(beta) if beta != 1 else acc).add_(y, alpha=alpha)
                return torch.add(acc * beta if beta != 1 else acc, y, alpha=alpha)
            if func is F.linear and isinstance(args[1], cls):
                bias = args[2] if len(args) > 2 else kwargs.get("bias")
                y = cls(args[1]._parts, not args[1]._transposed).times(args[0])
                return y if bias is None else y + bias
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)

    _CLS = FP8Weight
    return _CLS


def swap_weights(model) -> tuple[int, int]:
    """Give every frozen LoRA base linear an FP8Weight in place of its bf16 weight; returns (swapped,
    kept). The weight is an attribute, not a parameter: no optimizer, state dict or adapter sees it."""

    from forge.train.fp8_matmul import quantised_parts, swap_bases

    cls = fp8_weight_class()

    def swap(module, base):
        parts = quantised_parts(base.weight)
        del base.weight  # the bf16 parameter goes; its memory with it
        base.weight = cls(parts)

    return swap_bases(model, swap)


def apply(model) -> str:
    """Turn a PEFT model's frozen base linears into FP8 products; the run's note says what happened.

    By default the weights themselves become FP8 (forge.train.fp8_weight), so Unsloth's fused LoRA
    kernels keep running and multiply them in FP8. FORGE_FP8_MATMUL=module swaps whole base layers
    instead and puts Unsloth's fused modules back on PEFT's forward (the first design: 0.47x of bf16
    on the 1B shape, H100), kept for the benchmark's comparison."""
    import os

    from forge.train.fp8_matmul import accum_mode

    accum = accum_mode()  # a mistyped FORGE_FP8_ACCUM stops here, before any step
    if os.environ.get("FORGE_FP8_MATMUL", "weight") == "module":
        from forge.train.fp8_matmul import convert, unfuse_unsloth

        unfused = unfuse_unsloth(model)
        swapped, kept = convert(model)
        how = f"whole base layers; {unfused} Unsloth fused LoRA modules back on PEFT's forward"
    else:
        swapped, kept = swap_weights(model)
        how = "FP8 weights under Unsloth's fused LoRA kernels where it patched them"
    note = (
        f"FP8 base products (model.fp8_matmul): {swapped} frozen linears run forward and input gradient in FP8 ({how}; "
        f"{accum} accumulation, FORGE_FP8_ACCUM)"
    )
    if kept:
        note += f"; {kept} kept in bf16 (a dimension not a multiple of 16)"
    from forge.train.distributed.world import World

    if World.current().strategy == "fsdp":  # they are attributes, not parameters: FSDP shards parameters
        note += "; FSDP does not shard them: every rank holds all the FP8 base weights"
    return note
