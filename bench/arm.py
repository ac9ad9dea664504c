"""One arm of the throughput benchmark, in its own process (Unsloth patches transformers at import).

    python -m bench.arm --arm a|b|c --model-dir D --template llama-3 --data F --seconds 60 --out R.json

(a) the original recipe: Unsloth, batch 2 x accumulation 4, no packing, 4-bit, "unsloth" checkpointing;
(b) transformers + PEFT + TRL alone (no Unsloth), with (c)'s micro-batch, packing and checkpointing;
(c) forge: the Unsloth backend with `forge plan`'s settings for this card and this data.
All three train LoRA r=16 on every linear layer of the same examples, tokenized and masked by forge.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

T0 = time.perf_counter()


def mark(out: str, what: str) -> None:
    """One line in the arm's progress file, seconds since the arm started: an arm stopped by
    bench.run's limit writes no result, and this says how far it got (loaded, first step...)."""
    with open(Path(out).with_suffix(".progress"), "a") as f:
        f.write(f"{time.perf_counter() - T0:.1f} {what}\n")


def how_far(out: Path) -> str:
    """'; last: step 3 at 170.2 s' from an arm's progress file (mark), or '': for bench.run's
    line about an arm it stopped."""
    try:
        lines = [x for x in Path(out).with_suffix(".progress").read_text().split("\n") if x.strip()]
    except OSError:
        return ""
    if not lines:
        return ""
    at, _, what = lines[-1].partition(" ")  # a line cut short by the kill reads as what it holds
    return f"; last: {what} at {at} s" + ("" if what.startswith("step") else " (no step finished)")


def _cfg(arm: str, model_dir: str, template: str, settings: dict):
    from forge.config import validate_dict

    base = {
        "model": {"name": model_dir, "max_seq_length": 2048, "load_in_4bit": True},
        "lora": {"r": 16, "lora_alpha": 32, "use_gradient_checkpointing": "unsloth"},
        "training": {
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 4,
            "packing": False,
            "max_steps": 100000,
            "eval_steps": None,
            "save_steps": 100000,
            "logging_steps": 1000,
            "warmup_steps": 5,
            "learning_rate": 2e-4,
        },
        "dataset": {"chat_template": template, "val_path": None},
    }
    for key, value in settings.items():
        section, name = key.split(".", 1)
        base.setdefault(section, {})[name] = value
    return validate_dict(base)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm", required=True, help="a, b or c; c2, c3... are variants of c")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--template", default="llama-3")
    ap.add_argument("--data", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup-steps", type=int, default=3)
    ap.add_argument("--settings", default="{}", help="JSON of section.key -> value (arm c: the plan)")
    ap.add_argument("--mem-fraction", type=float, default=None)
    ap.add_argument("--torch-profile", type=int, default=0, help="profile this many steps after warm-up")
    ap.add_argument(
        "--max-steps", type=int, default=0, help="train exactly this many steps (loss parity), not --seconds"
    )
    ap.add_argument("--holdout", type=int, default=0, help="keep the last N examples out of training; eval on them")
    ap.add_argument("--no-init-eval", action="store_true", help="no loss-parity eval before training")
    ap.add_argument("--budget", type=float, default=0, help="stop training after this many seconds whatever happened")
    ap.add_argument(
        "--export-check", action="store_true", help="save the adapter, merge it into the bf16 base, compare"
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    result: dict = {"arm": a.arm, "ok": False}
    try:
        _run(a, result)
        result["ok"] = True
    except Exception as e:  # recorded, never hidden: the table says which arm failed and why
        import traceback

        result["error"] = f"{type(e).__name__}: {str(e)[:800]}"
        result["traceback"] = traceback.format_exc()[-4000:]
        print(result["traceback"], file=sys.stderr)
    Path(a.out).write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


def _run(a, result: dict) -> None:
    settings = json.loads(a.settings)
    if a.arm[0] in ("a", "c"):
        from forge.train.backends.unsloth import import_unsloth

        import_unsloth()
    import torch

    from forge.data import load_conversations
    from forge.train.dataset import tokenize_conversations

    if a.mem_fraction:
        torch.cuda.set_per_process_memory_fraction(a.mem_fraction)
    t_import = time.perf_counter()
    log = logging.getLogger("bench")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    out_dir = Path("/tmp/forge-bench/out") / a.arm
    cfg = _cfg(a.arm, a.model_dir, a.template, settings)
    if a.arm == "b":
        from forge.train.backends.hf import HFBackend

        class PackedHF(HFBackend):
            # transformers >= 4.56 builds a block-diagonal mask from packed position_ids for SDPA,
            # so padding-free packing stays exact without FlashAttention (what a TRL user gets).
            def _flash_attention(self) -> bool:
                return True

        backend = PackedHF(cfg, log, out_dir)
    else:
        from forge.train.backends.unsloth import UnslothBackend

        backend = UnslothBackend(cfg, log, out_dir)
    mark(a.out, "imported")
    model, tok = backend.load()
    torch.cuda.synchronize()
    t_load = time.perf_counter()
    mark(a.out, "loaded")
    convs = load_conversations(Path(a.data))
    examples, report = tokenize_conversations(convs, tok, cfg.model.max_seq_length)
    held = examples[-a.holdout :] if a.holdout else []
    if a.holdout:
        examples = examples[: -a.holdout]
    plan = backend.plan(len(examples), 0)
    ds = backend.prepare_dataset(examples)
    parity = held or [e for e in examples[:64]]
    lengths = [len(e["input_ids"]) for e in examples]
    result["data"] = {
        "examples": len(examples),
        "tokens_mean": sum(lengths) / len(lengths),
        "trained_fraction": sum(sum(1 for t in e["labels"] if t != -100) for e in examples) / sum(lengths),
        "dropped": report.to_dict().get("dropped_no_trained_tokens"),
    }
    attended = sum(n * n / 2 for n in lengths) / sum(lengths)
    meter = Meter(a.seconds, a.warmup_steps, max_steps=a.max_steps, budget=a.budget)
    meter.progress_out = a.out
    if a.torch_profile:
        meter.profile(a.warmup_steps, a.torch_profile, Path(a.out).with_suffix(".profile.txt"))
    trainer = backend.make_trainer(model, tok, ds, backend.prepare_dataset(parity), plan, [meter.callback()])
    meter.wrap(trainer, tok.pad_token_id)
    torch.cuda.synchronize()
    t_data = time.perf_counter()
    # loss parity: the same 64 examples through each arm's own forward and loss, before training
    ev = {} if a.no_init_eval else trainer.evaluate()
    result["init_eval_loss"] = ev.get("eval_loss")
    # the training peak is what the arms are compared on; the parity eval's own peak is kept apart
    torch.cuda.synchronize()
    result["eval_peak_allocated_gb"] = torch.cuda.max_memory_allocated() / 1024**3
    torch.cuda.reset_peak_memory_stats()
    t_eval = time.perf_counter()
    mark(a.out, "training")
    meter.t_train = time.perf_counter()
    trainer.train()
    torch.cuda.synchronize()
    if a.max_steps:  # loss parity: the same held-out examples after the same steps on the same data order
        result["final_eval_loss"] = trainer.evaluate().get("eval_loss")
    if a.export_check:
        from bench.export_check import export_check

        # the adapter stays outside --out: a 1B adapter alone passes the device tool's 16 MB per file
        result["export_check"] = export_check(backend, model, tok, Path("/tmp/forge-bench/adapter") / a.arm)
    t = cfg.training
    result.update(
        {
            "settings": {
                "per_device_train_batch_size": t.per_device_train_batch_size,
                "gradient_accumulation_steps": t.gradient_accumulation_steps,
                "packing": plan.packing,
                "max_seq_length": cfg.model.max_seq_length,
                "load_in_4bit": cfg.model.load_in_4bit,
                "load_in_fp8": cfg.model.load_in_fp8,
                "fp8_matmul": cfg.model.fp8_matmul,
                "gradient_checkpointing": cfg.lora.use_gradient_checkpointing
                if a.arm != "b"
                else plan.gradient_checkpointing,
                "optim": plan.optim,
                "lora_r": cfg.lora.r,
            },
            "notes": backend.notes,
            "timing": {
                "import_s": t_import - T0,
                "load_s": t_load - t_import,
                "data_s": t_data - t_load,
                "parity_eval_s": t_eval - t_data,
                "first_step_s": meter.first_step_s,
                "to_first_step_s": (t_eval - T0) - (t_eval - t_data) + (meter.first_step_s or 0),
            },
            "attended_mean": attended,
            **meter.summary(),
            "peak_allocated_gb": torch.cuda.max_memory_allocated() / 1024**3,
            "peak_reserved_gb": torch.cuda.max_memory_reserved() / 1024**3,
            "device": torch.cuda.get_device_name(0),
        }
    )
    import importlib.metadata as md

    result["versions"] = {
        p: _v(md, p)
        for p in ("torch", "transformers", "trl", "peft", "unsloth", "unsloth_zoo", "bitsandbytes", "torchao")
    }


def _v(md, p):
    try:
        return md.version(p)
    except Exception:
        return None


def count_tokens(inputs: dict, pad_id):
    """[real, trained, padded] tokens of one micro-batch, on its device (no host sync)."""
    import torch

    ids = inputs["input_ids"]
    labels = inputs.get("labels")
    mask = inputs.get("attention_mask")
    pos = inputs.get("position_ids")
    if mask is not None:
        real = mask.sum()
    elif pos is not None and pad_id is not None:
        # padding-free: the collator pads the flattened row at its end (pad_to_multiple_of,
        # forge.train.backends.packed_shape) with pad ids at position 0; count that trailing run
        tail = ((ids == pad_id) & (pos == 0)).flip(-1).to(torch.int64).cumprod(-1).sum()
        real = ids.numel() - tail
    else:
        real = torch.tensor(ids.numel(), device=ids.device)
    trained = (labels[..., 1:] != -100).sum() if labels is not None else real
    total = torch.tensor(ids.numel(), device=ids.device)
    return torch.stack([real.to(torch.int64), trained.to(torch.int64), total.to(torch.int64)])


class Meter:
    """Counts real / trained / padded tokens per micro-step on the GPU (no sync), times optimizer steps."""

    def __init__(self, seconds: float, warmup_steps: int, max_steps: int = 0, budget: float = 0):
        self.seconds, self.warmup = seconds, warmup_steps
        self.max_steps, self.budget = max_steps, budget
        self.stopped_by_budget = False
        self.t_train = None
        self.first_step_s = None
        self.marks: list[tuple[float, int, list]] = []  # (time, step, [real, trained, padded])
        self.counts = None
        self.losses: list[float] = []
        self.prof = None

    def on_step(self, step: int) -> None:
        if getattr(self, "progress_out", None):
            mark(self.progress_out, f"step {step}")

    def profile(self, start: int, steps: int, path: Path):
        """Profile `steps` optimizer steps after `start`; measurement begins after them."""
        self.prof_window, self.prof_path = (start, start + steps), path
        self.warmup = start + steps

    def _profile_hook(self, step: int, now: float):
        import torch
        from torch.autograd import DeviceType

        win = getattr(self, "prof_window", None)
        if not win:
            return
        if step == win[0] and self.prof is None:
            from torch.profiler import ProfilerActivity, profile

            self.prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
            self.prof.__enter__()
            self.prof_t0 = now
        elif step == win[1] and self.prof is not None:
            self.prof.__exit__(None, None, None)
            wall = now - self.prof_t0
            ka = self.prof.key_averages()
            # kernel events only: an aten op's "self CUDA" time repeats the time of the kernels it launched
            kernels = (
                sum(e.time_range.elapsed_us() for e in self.prof.events() if e.device_type == DeviceType.CUDA) / 1e6
            )
            head = (
                f"{win[1] - win[0]} steps, wall {wall:.3f} s, device (kernel) time {kernels:.3f} s "
                f"({100 * kernels / wall:.0f}% busy)\n\n"
            )
            by_self = ka.table(sort_by="self_cuda_time_total", row_limit=45, max_name_column_width=70)
            by_total = ka.table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=70)
            self.prof_path.write_text(head + by_self + "\n\n" + by_total)
            self.prof = None
            torch.cuda.synchronize()

    def wrap(self, trainer, pad_id):
        import torch

        self.counts = torch.zeros(3, dtype=torch.int64, device="cuda")
        orig = trainer.training_step

        def training_step(model, inputs, num_items_in_batch=None):
            self.counts += count_tokens(inputs, pad_id)
            loss = orig(model, inputs, num_items_in_batch)
            return loss

        trainer.training_step = training_step

    def callback(self):
        import torch
        from transformers import TrainerCallback

        meter = self

        class _CB(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                torch.cuda.synchronize()
                now = time.perf_counter()
                if meter.first_step_s is None:
                    meter.first_step_s = now - meter.t_train
                meter._profile_hook(state.global_step, now)
                meter.on_step(state.global_step)
                meter.marks.append((now, state.global_step, meter.counts.tolist()))
                if meter.max_steps:
                    if state.global_step >= meter.max_steps:
                        control.should_training_stop = True
                elif len(meter.marks) > meter.warmup and now - meter.marks[meter.warmup][0] >= meter.seconds:
                    control.should_training_stop = True
                if meter.budget and now - meter.t_train >= meter.budget:
                    # a slow arm (compiling every new shape, say) still reports what it did
                    meter.stopped_by_budget = control.should_training_stop = True

            def on_log(self, args, state, control, logs=None, **kw):
                if logs and "loss" in logs:
                    meter.losses.append(logs["loss"])

        return _CB()

    def summary(self) -> dict:
        warm = self.warmup
        if len(self.marks) <= warm + 1 and self.stopped_by_budget and len(self.marks) >= 2:
            warm = len(self.marks) // 2  # no steady state: the second half of what ran, flagged
        if len(self.marks) <= warm + 1:
            return {"steps_measured": 0, "stopped_by_budget": self.stopped_by_budget}
        t0, s0, c0 = self.marks[warm]
        t1, s1, c1 = self.marks[-1]
        dt = t1 - t0
        real, trained, padded = (c1[i] - c0[i] for i in range(3))
        return {
            "steps_measured": s1 - s0,
            "seconds_measured": dt,
            "real_tokens_per_s": real / dt,
            "trained_tokens_per_s": trained / dt,
            "padded_tokens_per_s": padded / dt,
            "padding_efficiency": real / padded if padded else None,
            "seconds_per_step": dt / (s1 - s0),
            "tokens_per_step": real / (s1 - s0),
            "last_losses": self.losses[-5:],
            "stopped_by_budget": self.stopped_by_budget,
            "warmup_steps_used": warm,
        }


if __name__ == "__main__":
    sys.exit(main())
