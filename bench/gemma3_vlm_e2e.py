"""Gemma 3 4B-it's shape end to end on a GPU: random init in the real layout -> plan -> train -> export.

    python bench/gemma3_vlm_e2e.py --tokenizer TOKDIR --out OUT [--steps 30]
        [--example shapes --backend unsloth --set KEY=VALUE ... --no-export]

`--example shapes` trains on pictures (issue 31, item 6): one image per conversation, so images per
second = examples per second, measured from the history's timestamps after the first `--warm` steps.

TOKDIR holds the Gemma 3 tokenizer files of builtin:tiny-gemma3-vlm (tokenizer.json, tokenizer.model,
tokenizer_config.json, chat_template.jinja): the GPU machine has no demo extra to read them from.
Writes OUT/vlm4b.json (times, figures, the export's checks) and one log per forge verb.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def sh(args: list[str], log: Path, timeout: int) -> tuple[int, float]:
    t0 = time.monotonic()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, round(time.monotonic() - t0, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/vlm4b"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--example", default="support")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--set", action="append", default=[], dest="sets", help="passed to plan and train")
    ap.add_argument("--warm", type=int, default=10, help="steps left out of the images-per-second figure")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="the tiny shape on the CPU: a rehearsal of the script")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out_json = a.out / "vlm4b.json"

    def save():
        out_json.write_text(json.dumps(res, indent=2, default=str) + "\n")

    import torch

    from forge.models.builtin_vlm import GEMMA3_4B, TINY, build_vlm

    res["card"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    model_dir = a.work / "gemma-3-4b-it-random"
    t0 = time.monotonic()
    shape, device = (TINY, None) if a.tiny else (GEMMA3_4B, "cuda")
    build_vlm(model_dir, shape, gguf_dir=a.work / "gguf", device=device, tokenizer_dir=a.tokenizer)
    res["build_s"] = round(time.monotonic() - t0, 1)
    res["model_bytes"] = sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))
    torch.cuda.empty_cache()
    save()

    forge = [sys.executable, "-m", "forge"]
    proj = a.work / "project"
    rc, s = sh([*forge, "init", str(proj), "--example", a.example], a.out / "init.log", 120)
    cfg_file = proj / "training-config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["model"]["name"] = str(model_dir)
    if a.tiny:
        cfg["model"]["max_seq_length"] = 128
    cfg_file.write_text(json.dumps(cfg, indent=2))
    sets = [x for kv in a.sets for x in ("--set", kv)]
    backend = ["--backend", a.backend] if a.backend else []
    steps = [
        ("plan", [*forge, "plan", str(proj), "--write", *sets], 120),
        ("plan_json", [*forge, "plan", str(proj), "--json", *sets], 120),
        ("train", [*forge, "train", str(proj), *backend, *sets, "--set", f"training.max_steps={a.steps}"], 420),
        ("export", [*forge, "export", str(proj), "--merged", "--gguf", "q8_0", "--json"], 420),
    ]
    if a.no_export:
        steps.pop()
    for name, args, limit in steps:
        rc, s = sh(args, a.out / f"{name}.log", limit)
        res[name] = {"rc": rc, "seconds": s}
        save()
        if rc != 0 and name == "train" and s < 120:  # a quick failure of the auto backend: the hf one
            rc, s = sh([*args, "--backend", "hf"], a.out / "train-hf.log", limit)
            res["train_hf"] = {"rc": rc, "seconds": s}
            save()
        if rc != 0:
            break
    try:  # the log holds stderr's lines too: the JSON document starts at its first brace
        text = (a.out / "plan_json.log").read_text()
        plan = json.loads(text[text.index("{") :])
        res["plan_memory"] = plan.get("memory") or plan.get("plan", {}).get("memory")
    except (OSError, ValueError):
        pass
    stats = proj / "metrics" / "training-stats.json"
    if stats.is_file():
        res["training_stats"] = json.loads(stats.read_text())
    res["throughput"] = _throughput(proj, a.warm, dict(kv.split("=", 1) for kv in a.sets))
    report = proj / "metrics" / "export-report.json"
    if report.is_file():
        r = json.loads(report.read_text())
        res["export_report"] = {
            "ok": r["ok"],
            "error": r.get("error"),
            "merged": r.get("merged"),
            "gguf": r.get("gguf"),
            "mmproj": r.get("mmproj"),
            "notes": r.get("notes"),
            "seconds": r.get("seconds"),
            "checks": [(c.get("target"), c["name"], c["ok"], c["detail"][:160]) for c in r["checks"]],
        }
        res["adapter_vision_tensors"] = _vision_tensors(proj / "models/checkpoints/lora/adapter_model.safetensors")
    save()
    os.system(f"nvidia-smi --query-gpu=name,memory.total --format=csv > {a.out}/nvidia-smi.txt")
    return 0


def _throughput(proj: Path, warm: int, sets: dict) -> dict | None:
    """Examples (= images, one per conversation in the shapes example) and real tokens per second
    between the history's row at step `warm` and its last row: compilation and warm-up left out."""
    from datetime import datetime

    hist = proj / "metrics" / "training-history.jsonl"
    cfg = json.loads((proj / "training-config.json").read_text())
    if not hist.is_file():
        return None
    rows = [json.loads(x) for x in hist.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r.get("loss") is not None]
    first = next((r for r in rows if r["step"] >= warm), None)
    last = rows[-1] if rows else None
    if first is None or last is None or last["step"] <= first["step"]:
        return None
    seconds = (datetime.fromisoformat(last["time"]) - datetime.fromisoformat(first["time"])).total_seconds()
    batch = 1
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps"):
        batch *= int(sets.get(f"training.{key}") or cfg.get("training", {}).get(key) or 1)
    tps = [r["tokens_per_second"] for r in rows if r["step"] > first["step"] and r.get("tokens_per_second")]
    return {
        "from_step": first["step"],
        "to_step": last["step"],
        "seconds": round(seconds, 2),
        "examples_per_second": round((last["step"] - first["step"]) * batch / seconds, 3) if seconds else None,
        "tokens_per_second_mean": round(sum(tps) / len(tps), 1) if tps else None,
    }


def _vision_tensors(path: Path) -> int | None:
    from safetensors import safe_open

    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as f:
        return sum("vision" in k for k in f.keys())


if __name__ == "__main__":
    sys.exit(main())
