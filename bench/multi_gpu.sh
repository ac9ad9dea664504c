#!/usr/bin/env bash
# 1 GPU vs 2 GPUs, DDP and FSDP (`forge train --gpus 2 [--strategy fsdp]`) on a Llama shape (random
# init, bench/common.py), real tokens per second from each run's own history (rank 0's count is the
# global count: the Trainer sums the input tokens over ranks), per GPU against 1 GPU, in one call.
# For a lent kind with 2+ GPUs (nvidia-h200-x2 or larger):
#
#     bash bench/multi_gpu.sh [STEPS] [OUT] [SHAPE]   # default 60 steps, /tmp/forge-mgpu, llama-1b
#     bash bench/multi_gpu.sh 20 /tmp/mg llama-8b     # the issue-19 shape
#
# All runs use the same global batch (per-device 8 x accumulation 2 = 16 on one GPU; 8 x 1 x 2
# on two): forge divides the accumulation across ranks. The fsdp arm takes --backend auto, so it
# runs Unsloth's native FSDP2 where Unsloth is installed (the hf arms: accelerate's DDP). Prints
# a markdown table for docs/multi-gpu.md and leaves each project's logs/metrics under OUT.
set -euo pipefail
STEPS=${1:-60}
OUT=${2:-/tmp/forge-mgpu}
SHAPE=${3:-llama-1b}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"

python3 - "$OUT" "$SHAPE" <<'PY'
import sys
from pathlib import Path
from bench.common import build_model, make_chat, write_jsonl
from forge.init.scaffold import init_project
out, shape = Path(sys.argv[1]), sys.argv[2]
build_model(shape, out / "model")
rows = make_chat(4000, seed=0)
for name in ("gpu1", "ddp2", "fsdp2"):
    proj, _ = init_project(out / name)
    write_jsonl(proj.train_file, rows)
PY

SETS=(--set "model.name=$OUT/model" --set model.load_in_4bit=false --set model.max_seq_length=1024
      --set dataset.chat_template=llama-3 --set dataset.val_path=null --set lora.r=16 --set lora.lora_alpha=32
      --set training.per_device_train_batch_size=8 --set training.gradient_accumulation_steps=2
      --set "training.max_steps=$STEPS" --set training.save_steps=100000 --set training.logging_steps=1
      --set training.optim=adamw_torch --set training.bf16=true)

CUDA_VISIBLE_DEVICES=0 forge train "$OUT/gpu1" --backend hf --force "${SETS[@]}" --json > "$OUT/gpu1.json"
forge train "$OUT/ddp2" --backend hf --force --gpus 2 "${SETS[@]}" --json > "$OUT/ddp2.json"
forge train "$OUT/fsdp2" --force --gpus 2 --strategy fsdp "${SETS[@]}" --json > "$OUT/fsdp2.json" || true

python3 - "$OUT" "$SHAPE" <<'PY'
import json, statistics, sys
from pathlib import Path
out, shape = Path(sys.argv[1]), sys.argv[2]
def tps(name):
    path = out / name / "metrics/training-history.jsonl"
    if not path.is_file():
        return None, 0
    rows = [json.loads(l) for l in path.read_text().splitlines() if l]
    v = [r["tokens_per_second"] for r in rows if r.get("tokens_per_second")][5:]  # skip warm-up steps
    return (statistics.median(v) if v else None), len(v)
gpu = (out / "gpus.txt").read_text().strip().splitlines()[0]
base, n1 = tps("gpu1")
print("\n| run | GPUs | median tokens/s (steps) | per GPU | per GPU vs 1 GPU |\n|---|---|---|---|---|")
for name, label, n in (("gpu1", "1 GPU, hf", 1), ("ddp2", "`--gpus 2` (DDP, NCCL)", 2),
                       ("fsdp2", "`--gpus 2 --strategy fsdp`", 2)):
    t, k = tps(name)
    if t is None:
        print(f"| {shape}, {label} | {n} x {gpu} | failed: see {out / name / 'logs/training.log'} | | |")
        continue
    print(f"| {shape}, {label} | {n} x {gpu} | {t:,.0f} ({k}) | {t / n:,.0f} | {t / n / base:.2f} |")
for name in ("gpu1", "ddp2", "fsdp2"):
    f = out / name / "metrics/training-stats.json"
    if f.is_file():
        s = json.loads(f.read_text())
        print(f"{name}: final loss {s['final_loss']:.4f}, {s['total_steps']} steps, {s['duration_seconds']} s, "
              f"backend {s.get('backend')}")
PY
