"""Is torch's flash varlen kernel usable for GQA here, and does it match per-segment SDPA? (GPU)"""

import inspect
import time

import torch
import torch.nn.functional as F

print("torch", torch.__version__, torch.cuda.get_device_name(0))
from torch.nn.attention import varlen as vl  # noqa: E402

print("varlen names:", [n for n in dir(vl) if not n.startswith("__")])
print("varlen_attn params:", list(inspect.signature(vl.varlen_attn).parameters))
torch.manual_seed(0)
H, HKV, D = 32, 8, 64
lens = [700, 1200, 300, 900]
T = sum(lens)
q = torch.randn(T, H, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
k = torch.randn(T, HKV, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
v = torch.randn(T, HKV, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), device="cuda", dtype=torch.int32)
out, lse, *_ = torch.ops.aten._flash_attention_forward(
    q, k, v, cu, cu, max(lens), max(lens), 0.0, True, False, scale=None
)
ref = []
for i in range(len(lens)):
    s, e = cu[i].item(), cu[i + 1].item()
    ref.append(
        F.scaled_dot_product_attention(
            q[s:e].transpose(0, 1)[None],
            k[s:e].transpose(0, 1)[None],
            v[s:e].transpose(0, 1)[None],
            is_causal=True,
            enable_gqa=True,
        )[0].transpose(0, 1)
    )
ref = torch.cat(ref)
print("aten flash GQA varlen max abs diff vs per-segment SDPA:", (out - ref).abs().max().item())
t = time.perf_counter()
for _ in range(20):
    torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, max(lens), max(lens), 0.0, True, False, scale=None)
torch.cuda.synchronize()
print("fwd ms", (time.perf_counter() - t) / 20 * 1e3)
