#!/usr/bin/env bash
# 1 GPU vs 2 GPUs (DDP, `forge train --gpus 2`) on the 1B-shape Llama (random init, bench/common.py),
# real tokens per second from the run's own history (rank 0's count is the global count: the
# Trainer sums the input tokens over ranks). For the lent 2-GPU H100 machine (kind nvidia-h100-x2):
#
#     bash bench/multi_gpu.sh [STEPS] [OUT]        # default 60 steps, /tmp/forge-mgpu
#
# Both runs use the same global batch (per-device 8 x accumulation 2 = 16 on one GPU; 8 x 1 x 2
# on two): forge divides the accumulation across ranks. Prints a markdown table for
# docs/gpu-validation.md and leaves each project's logs/metrics under OUT.
set -euo pipefail
STEPS=${1:-60}
OUT=${2:-/tmp/forge-mgpu}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"

python3 - "$OUT" <<'PY'
import sys
from pathlib import Path
from bench.common import build_model, make_chat, write_jsonl
from forge.commands.init import init_project
out = Path(sys.argv[1])
build_model("llama-1b", out / "model")
rows = make_chat(4000, seed=0)
for name in ("gpu1", "gpu2"):
    proj, _ = init_project(out / name)
    write_jsonl(proj.train_file, rows)
PY

SETS=(--set "model.name=$OUT/model" --set model.load_in_4bit=false --set model.max_seq_length=1024
      --set dataset.chat_template=llama-3 --set dataset.val_path=null --set lora.r=16 --set lora.lora_alpha=32
      --set training.per_device_train_batch_size=8 --set training.gradient_accumulation_steps=2
      --set "training.max_steps=$STEPS" --set training.save_steps=100000 --set training.logging_steps=1
      --set training.optim=adamw_torch --set training.bf16=true)

CUDA_VISIBLE_DEVICES=0 forge train "$OUT/gpu1" --backend hf --force "${SETS[@]}" --json > "$OUT/gpu1.json"
forge train "$OUT/gpu2" --backend hf --force --gpus 2 "${SETS[@]}" --json > "$OUT/gpu2.json"

python3 - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
def tps(name):
    rows = [json.loads(l) for l in (out / name / "metrics/training-history.jsonl").read_text().splitlines() if l]
    v = [r["tokens_per_second"] for r in rows if r.get("tokens_per_second")][5:]  # skip warm-up steps
    return statistics.median(v), len(v)
gpus = (out / "gpus.txt").read_text().strip().splitlines()
a, n1 = tps("gpu1"); b, n2 = tps("gpu2")
print(f"\n| run | GPUs | median tokens/s (steps) | scaling |\n|---|---|---|---|")
print(f"| llama-1b shape, hf backend, global batch 16, seq 1024 | 1 x {gpus[0]} | {a:,.0f} ({n1}) | 1.00 |")
print(f"| same, `--gpus 2` (DDP, NCCL) | 2 x {gpus[0]} | {b:,.0f} ({n2}) | {b / a:.2f} |")
for name in ("gpu1", "gpu2"):
    s = json.loads((out / name / "metrics/training-stats.json").read_text())
    print(f"{name}: final loss {s['final_loss']:.4f}, {s['total_steps']} steps, {s['duration_seconds']} s")
PY
