"""The GPU throughput benchmark's entry point (issue 8); each arm runs in its own process.

    python -m bench.run --model llama-1b --arms a,b,c --seconds 60 [--profile chat|alpaca] [--out DIR]

Builds the synthetic data and the random-init model (on the GPU, no download), asks `forge plan`
for arm (c)'s settings on this card and this data, runs the arms one after another, and writes
`bench-<model>-<profile>.json` and a markdown section (`bench-<model>-<profile>.md`, to append to
docs/benchmarks.md) into --out. Formulas: see bench/common.py (flops_4n, flops_full).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.arm import how_far
from bench.common import MODELS, make_alpaca, make_chat, write_jsonl
from bench.summary import markdown, summarise

ROOT = Path("/tmp/forge-bench")
PARITY_ARMS = ("p16", "p8", "pg")


def plan_for(model_dir: Path, data: Path, template: str):
    """`forge plan`'s resolver on this card and this data: what arm (c) trains with."""
    from forge.config import validate_dict
    from forge.data import load_conversations
    from forge.models.facts import read_facts
    from forge.plan.hardware import probe
    from forge.plan.measure import stats_for
    from forge.plan.resolve import resolve

    cfg = validate_dict(
        {"model": {"name": str(model_dir)}, "lora": {"r": 16, "lora_alpha": 32}, "dataset": {"chat_template": template}}
    )
    facts = read_facts(cfg.model.name)
    convs = load_conversations(data)
    stats = stats_for(convs, cfg, facts)
    return resolve(cfg, stats, probe(), explicit={"model.name", "lora.r", "lora.lora_alpha"}, facts=facts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="llama-1b", choices=sorted(MODELS))
    ap.add_argument("--arms", default="a,b,c")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--profile", default="chat", choices=["chat", "alpaca"])
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--out", default=os.environ.get("OUT", "bench-results"))
    ap.add_argument("--timeout", type=float, default=420, help="seconds per arm before it is stopped")
    # the original recipe (a) on Gemma 3 compiles each new row length before its first step: more than (c)'s limit
    ap.add_argument("--timeouts", type=json.loads, default={}, help='JSON arm -> seconds, over --timeout ({"a": 420})')
    ap.add_argument("--c2", default=None, help="JSON overrides of (c)'s settings for a variant arm c2")
    ap.add_argument("--b-gc", action="store_true", help="arm b with gradient checkpointing (when (c)'s settings OOM)")
    ap.add_argument("--b", default=None, help="JSON overrides of (b)'s settings (e.g. a smaller micro-batch)")
    ap.add_argument("--torch-profile", type=int, default=0, help="profile this many steps per arm (kernel table)")
    ap.add_argument("--profile-arms", default="c,f", help="the arms --torch-profile applies to")
    ap.add_argument("--parity-steps", type=int, default=200, help="steps of the loss-parity arms p16 / p8")
    ap.add_argument("--parity-batch", type=int, default=2, help="micro-batch (packed rows) of the parity arms")
    ap.add_argument(
        "--stacks",
        type=float,
        default=0,
        help="sample each arm's main-thread stack every N seconds (bench/probes/stacks.py)",
    )
    ap.add_argument(
        "--warmup-steps",
        type=int,
        default=None,
        help="steps before the measure starts (default: bench.arm's 3); Gemma 3's per-block graphs "
        "compiled again inside the measure after 3 (H200, 2026-12-01)",
    )
    ap.add_argument(
        "--no-init-eval",
        action="store_true",
        help="skip each arm's eval before training (on Gemma 3 it compiles its own graphs: 404 s on the H200)",
    )
    ap.add_argument("--card-gb", type=float, default=None, help="emulate a card of this size (plan and every arm)")
    ap.add_argument("--budget", default="{}", help='JSON arm -> seconds of training before it stops ({"a": 120})')
    a = ap.parse_args(argv)
    if not isinstance(a.timeouts, dict):  # before the model build, which takes minutes for the 27B
        ap.error('--timeouts takes a JSON object of arm -> seconds, e.g. {"a": 420}')
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    shape_name, _, template = MODELS[a.model]
    t0 = time.time()

    data = ROOT / f"{a.profile}-{a.rows}.jsonl"
    if not data.exists():
        rows = make_chat(a.rows) if a.profile == "chat" else make_alpaca(a.rows)
        write_jsonl(data, rows)
    from bench.common import build_model

    models = Path(os.environ.get("FORGE_BENCH_MODELS") or ROOT / "models")  # /dev/shm for the 27B's 54 GB
    model_dir = build_model(a.model, models / shape_name)
    t_build = time.time() - t0
    print(f"== model built in {t_build:.0f} s", flush=True)
    fraction = None
    if a.card_gb:  # the plan reads the cap through forge.plan.hardware.probe; each arm sets it again
        import torch

        fraction = a.card_gb * 1024**3 / torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(fraction)
    p = plan_for(model_dir, data, template)
    print(f"== planned in {time.time() - t0 - t_build:.0f} s", flush=True)
    plan_settings = {k: s.value for k, s in p.settings.items() if k != "model.name"}
    plan_settings["training.max_steps"] = 100000
    plan_settings["training.eval_steps"] = None
    plan_settings["training.save_steps"] = 100000
    plan_settings["training.logging_steps"] = 10
    gc = plan_settings.get("lora.use_gradient_checkpointing")
    arm_settings = {
        "a": {"training.logging_steps": 10},
        "c": plan_settings,
        "b": {
            k: plan_settings[k]
            for k in (
                "model.max_seq_length",
                "model.load_in_4bit",
                "training.per_device_train_batch_size",
                "training.gradient_accumulation_steps",
                "training.packing",
                "training.optim",
                "training.max_steps",
                "training.eval_steps",
                "training.save_steps",
                "training.logging_steps",
            )
        }
        | {"lora.use_gradient_checkpointing": bool(gc) or a.b_gc},
    }
    if a.c2:
        arm_settings["c2"] = plan_settings | json.loads(a.c2)
    if a.b:
        arm_settings["b"] = arm_settings["b"] | json.loads(a.b)
    # (c0): forge's plan on Unsloth's attention dispatch as it ships (no torch varlen adapter)
    arm_settings["c0"] = plan_settings
    # (ce): forge's plan with Unsloth's per-decoder-block torch.compile off: on torch 2.11 Gemma 3
    # layers took minutes to reach their first step (docs/gpu-validation.md); this arm says how much
    # of (c)'s time to first step and speed the compile accounts for
    arm_settings["ce"] = plan_settings
    # (cd): the same with every torch.compile off (TORCHDYNAMO_DISABLE): Unsloth's model compile
    # too, which (ce) keeps; with (c) and (ce) it places a slow first step in or out of dynamo
    arm_settings["cd"] = plan_settings
    # (f): forge's plan with the frozen base in FP8 (model.load_in_fp8, Unsloth's FP8 LoRA)
    fp8 = {"model.load_in_fp8": True, "model.load_in_4bit": False}
    arm_settings["f"] = plan_settings | fp8
    # loss parity: (c)'s recipe at a small micro-batch for exactly --parity-steps steps, bf16 vs FP8,
    # same data order and seed, eval on held-out examples (bench/arm.py --max-steps --holdout)
    parity = plan_settings | {
        "training.per_device_train_batch_size": a.parity_batch,
        "training.gradient_accumulation_steps": 1,
        "training.max_steps": a.parity_steps,
        "training.warmup_steps": 10,
    }
    arm_settings["p16"] = parity | {"model.load_in_4bit": False}
    arm_settings["p8"] = parity | fp8
    # (g) / (pg): forge's own FP8 base products (model.fp8_matmul): forward and input gradient in FP8
    fp8mm = {"model.fp8_matmul": True, "model.load_in_4bit": False}
    arm_settings["g"] = plan_settings | fp8mm
    arm_settings["pg"] = parity | fp8mm
    arm_settings["g0"] = arm_settings["g"]  # the first design: whole base layers, unfused (arm_env)
    arm_settings["g1"] = arm_settings["g"]  # the weight design, x quantised for every product (arm_env)
    arm_settings["g2"] = arm_settings["g"]  # torchao's accumulation: fast forward, per-tensor dx (arm_env)
    arm_settings["g3"] = arm_settings["g"]  # fast accumulation in both products (arm_env)
    budgets = json.loads(a.budget)
    arm_env = {
        "c0": {"FORGE_TORCH_VARLEN": "0"},
        "ce": {"UNSLOTH_BLOCK_COMPILE": "0"},
        "cd": {"TORCHDYNAMO_DISABLE": "1"},
        "g0": {"FORGE_FP8_MATMUL": "module"},
        "g1": {"FORGE_FP8_REUSE": "0"},
        "g2": {"FORGE_FP8_ACCUM": "fast-forward"},
        "g3": {"FORGE_FP8_ACCUM": "fast"},
    }
    results = {}
    for arm in a.arms.split(","):
        rfile = out / f"arm-{a.model}-{a.profile}-{arm}.json"
        cmd = [
            sys.executable,
            "-m",
            "bench.arm",
            "--arm",
            arm,
            "--model-dir",
            str(model_dir),
            "--template",
            template,
            "--data",
            str(data),
            "--seconds",
            str(a.seconds),
            "--settings",
            json.dumps(arm_settings[arm]),
            "--out",
            str(rfile),
            "--torch-profile",
            str(a.torch_profile if arm in a.profile_arms.split(",") else 0),
            "--budget",
            str(budgets.get(arm, 0)),
        ]
        if a.no_init_eval and arm not in PARITY_ARMS:  # the parity arms compare these losses
            cmd.append("--no-init-eval")
        if a.warmup_steps is not None and arm not in PARITY_ARMS:
            cmd += ["--warmup-steps", str(a.warmup_steps)]
        if a.stacks:
            stacks = out / f"arm-{a.model}-{a.profile}-{arm}.stacks.txt"
            cmd[1:3] = [
                "-m",
                "bench.probes.stacks",
                "--every",
                str(a.stacks),
                "--to",
                str(stacks),
                "--",
                "-m",
                "bench.arm",
            ]
        if fraction:
            cmd += ["--mem-fraction", f"{fraction:.5f}"]
        if arm in PARITY_ARMS:
            cmd += ["--max-steps", str(a.parity_steps), "--holdout", "128", "--warmup-steps", "10"]
        if arm in ("p8", "pg"):
            cmd.append("--export-check")
        print(f"== arm {arm}", flush=True)
        started, limit = time.time(), a.timeouts.get(arm, a.timeout)
        rfile.with_suffix(".progress").unlink(missing_ok=True)  # an earlier run's marks are not this run's
        try:
            env = os.environ | arm_env.get(arm, {})
            # straight into the log file, so an arm that hangs or is stopped still leaves its output
            with open(out / f"arm-{a.model}-{a.profile}-{arm}.log", "w") as log:
                subprocess.run(cmd, timeout=limit, stdout=log, stderr=subprocess.STDOUT, env=env)
        except subprocess.TimeoutExpired:
            # an arm stopped by its budget can write its result and still be tearing down at the limit
            # (2026-12-02, Gemma 3 4B-it arm (a): result written, killed a second later); keep it
            done = _result_since(rfile, started)
            if done is None:
                results[arm] = {"arm": arm, "ok": False, "error": f"timed out after {limit:.0f} s{how_far(rfile)}"}
                continue
            results[arm] = done | {"killed_after_result": True}
        else:
            results[arm] = _result_since(rfile, started) or {"arm": arm, "ok": False}
        results[arm]["wall_s"] = time.time() - started
        r = results[arm]
        print(
            f"   ok={r.get('ok')} real tok/s={r.get('real_tokens_per_s', 0):,.0f} "
            f"peak={r.get('peak_reserved_gb', 0):.1f} GB {r.get('error', '')}",
            flush=True,
        )
    summary = summarise(a, p, results, shape_name, t_build)
    name = f"bench-{a.model}-{a.profile}"
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2, default=str))
    md = markdown(summary)
    (out / f"{name}.md").write_text(md)
    print(md)
    return 0


def _result_since(rfile: Path, started: float) -> dict | None:
    """The arm's result file when this run of it wrote one (not a stale file of an earlier run)."""
    try:
        if rfile.stat().st_mtime < started:
            return None
        return json.loads(rfile.read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
