"""Plan vs measured peak on the GPU, with smaller cards emulated (issue 15.4). Run on the device:

    python -m tests.gpu.plan_vs_peak OUT_DIR [case ...]

Each case: a random-init model of a real layout (config.json written here, weights random, the
bench's word-level tokenizer), a project with the bench's synthetic chats, then, in this process:
torch.cuda.set_per_process_memory_fraction to emulate the card, `forge plan --write` (the
resolver sees the cap through forge.plan.hardware.probe), and `forge train` for N steps through
the recipe. Recorded per case: the plan's estimate, torch's peak reserved / allocated, and the OOM
retries (the emulated rows must have none). Results go to OUT_DIR/plan_vs_peak.jsonl as they come.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path

GB = 1024**3
LLAMA_1B = dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=8192, vocab_size=128256, head_dim=64, tie_word_embeddings=True)  # fmt: skip
QWEN_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                intermediate_size=4864, vocab_size=151936, head_dim=64, tie_word_embeddings=True)  # fmt: skip
GEMMA_1B = dict(hidden_size=1152, num_hidden_layers=26, num_attention_heads=4, num_key_value_heads=1,
                intermediate_size=6912, vocab_size=262144, head_dim=256, query_pre_attn_scalar=256,
                sliding_window=512)  # fmt: skip
# name -> (builder, emulated card GB or None, steps, template)
CASES = {
    "gemma3-4b-vlm@16GB": ("vlm4b", 16, 30, "gemma-3"),
    "llama-1b": ("llama", None, 10, "llama-3"),
    "qwen2.5-0.5b": ("qwen", None, 10, "llama-3"),
    "gemma3-1b-text": ("gemma", None, 10, "gemma-3"),
    "gemma3-12b-vlm@24GB": ("vlm12b", 24, 30, "gemma-3"),  # last: the longest build and load
    # the seed's VRAM tiers (issue 32): 8 GB and 12-16 GB take the 4B-it, 24 GB+ the 27B-it
    "gemma3-4b-vlm@8GB": ("vlm4b", 8, 20, "gemma-3"),
    "gemma3-4b-vlm@12GB": ("vlm4b", 12, 20, "gemma-3"),
    # 27B: few steps, each logged (a step of 4 x 4,864 tokens takes seconds; the load takes minutes)
    "gemma3-27b-vlm@24GB": ("vlm27b", 24, 6, "gemma-3"),
    "gemma3-27b-vlm@48GB": ("vlm27b", 48, 6, "gemma-3"),
}
# where the random-init weights go: the 27B's 54 GB of bf16 outgrow the lent machine's disk, so
# FORGE_PVP_MODELS can put them in /dev/shm
MODELS_DIR = os.environ.get("FORGE_PVP_MODELS")


def bpe_tokenizer(folder: Path):
    """Qwen2's tokenizer class (which transformers 5 picks from config.json's model_type) rebuilds a
    byte-level BPE from tokenizer.json and turns the bench's word-level vocabulary into no tokens at
    all; a byte-level BPE trained on the synthetic chats has the same specials and loads as Qwen2's."""
    from bench.common import SPECIALS, make_chat
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [t["value"] for r in make_chat(600) for t in r["conversations"]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=16000, special_tokens=SPECIALS, initial_alphabet=alphabet)
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   additional_special_tokens=SPECIALS[2:])  # fmt: skip
    fast.save_pretrained(str(folder))
    return fast


def build(kind: str, folder: Path) -> Path:
    import torch
    from bench.common import build_tokenizer

    if (folder / "config.json").exists():
        return folder
    if kind in ("vlm4b", "vlm12b", "vlm27b"):
        from bench.vlm_shape import build_gemma3_vlm

        # the 12B's / 27B's text decoder behind the 4B-it's SigLIP tower and projector
        shape = {"vlm4b": "gemma-3-4b", "vlm12b": "gemma-3-12b", "vlm27b": "gemma-3-27b"}[kind]
        return build_gemma3_vlm(folder, shape_name=shape)
    folder.mkdir(parents=True, exist_ok=True)
    tok = bpe_tokenizer(folder) if kind == "qwen" else build_tokenizer(folder)
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    if kind == "llama":
        from transformers import LlamaConfig as C
        from transformers import LlamaForCausalLM as M

        cfg = C(**LLAMA_1B, **ids, rope_theta=500000.0, max_position_embeddings=131072)
    elif kind == "qwen":
        from transformers import Qwen2Config as C
        from transformers import Qwen2ForCausalLM as M

        cfg = C(**QWEN_05B, **ids, max_position_embeddings=32768)
    else:
        from transformers import Gemma3ForCausalLM as M
        from transformers import Gemma3TextConfig as C

        cfg = C(**GEMMA_1B, **ids, max_position_embeddings=32768)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # cpu: the smoke run of this script
        model = M(cfg).to(torch.bfloat16)
    model.save_pretrained(str(folder), safe_serialization=True)
    del model
    torch.cuda.empty_cache()
    return folder


def run_case(name: str, root: Path) -> dict:
    import torch
    from bench.common import make_chat, write_jsonl

    from forge.commands import plan as plan_cmd
    from forge.config import load_config
    from forge.init.scaffold import init_project
    from forge.train.recipe import train

    kind, card, steps, template = CASES[name]
    t0 = time.time()
    folder = build(kind, (Path(MODELS_DIR) if MODELS_DIR else root / "models") / kind)
    built = time.time() - t0
    cuda = torch.cuda.is_available()
    gc.collect()
    base = 0.0
    if cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction((card * GB / total) if card else 1.0)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / GB
    proj, _ = init_project(root / "projects" / name.replace("@", "-"))
    write_jsonl(proj.train_file, make_chat(600))
    sets = [f"model.name={folder}", f"dataset.chat_template={template}", f"training.max_steps={steps}",
            "dataset.val_path=null", "training.save_steps=1000", f"training.logging_steps={1 if steps <= 10 else 5}"]  # fmt: skip
    if card:  # the user's budget key too, in case this torch cannot report the per-process cap
        sets.append(f"training.vram_budget_gb={card}")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        plan_cmd.run(proj.root, write=True, json_out=True, overrides=sets)
    plan = json.loads(buf.getvalue())
    cfg = load_config(proj.config_file, sets)
    t1 = time.time()
    result = train(proj, cfg, force=True)
    s = result.stats or {}
    log = proj.log_file
    if log.is_file():  # step times and the recipe's own account, for reading afterwards
        (OUT / f"{name.replace('@', '-')}.training.log").write_bytes(log.read_bytes())
    row = {
        "case": name,
        "card_gb": card,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "exit": result.exit_code,
        "steps": s.get("total_steps"),
        "oom_retries": s.get("oom_retries"),
        "plan_total_gb": plan["memory"]["total_gb"] if plan.get("memory") else None,
        "plan_torch_peak_gb": plan["memory"]["torch_peak_gb"] if plan.get("memory") else None,
        "plan_memory": plan.get("memory"),
        "budget_gb": plan.get("memory_budget_gb"),
        "settings": {k: v["value"] for k, v in plan["settings"].items()},
        "peak_reserved_gb": round(torch.cuda.max_memory_reserved() / GB, 2) if cuda else None,
        "peak_allocated_gb": round(torch.cuda.max_memory_allocated() / GB, 2) if cuda else None,
        "allocated_before_gb": round(base, 2),
        # training-stats.json's split at the first step: the load's peak, and the steps' own (the
        # figures the plan estimates)
        "load_peak_allocated_gb": s.get("load_peak_vram_gb"),
        "steps_peak_allocated_gb": s.get("steps_peak_vram_gb"),
        "steps_peak_reserved_gb": s.get("steps_peak_vram_reserved_gb"),
        "build_s": round(built, 1),
        "train_s": round(time.time() - t1, 1),
        "final_loss": s.get("final_loss"),
    }
    if row["plan_torch_peak_gb"] and cuda:
        row["plan_over_peak"] = round(row["plan_torch_peak_gb"] / max(row["peak_reserved_gb"] - base, 1e-9) - 1, 3)
        if row["steps_peak_reserved_gb"]:
            steps_peak = max(row["steps_peak_reserved_gb"] - base, 1e-9)
            row["plan_over_steps_peak"] = round(row["plan_torch_peak_gb"] / steps_peak - 1, 3)
    row.update(speed(proj, folder, warm=min(10, steps // 2)))
    return row


def speed(proj, folder: Path, warm: int = 10) -> dict:
    """Real tok/s: the mean of forge's own per-log figures after `warm` steps (compilation left out);
    MFU by the 4N count of bench.mfu on the shape read from the model's config.json."""
    from bench.mfu import flops_4n, mfu

    from forge.models.shape import from_config

    hist = proj.history_file
    rows = [json.loads(x) for x in hist.read_text().splitlines() if x.strip()] if hist.is_file() else []
    tps = [r["tokens_per_second"] for r in rows if r.get("tokens_per_second") and r.get("step", 0) > warm]
    if not tps:
        return {"tokens_per_second": None, "mfu_4n": None}
    mean = sum(tps) / len(tps)
    median = sorted(tps)[len(tps) // 2]  # steady speed: one pause (a recompile) does not move it
    shape = from_config(json.loads((folder / "config.json").read_text()), folder.name)
    flops = flops_4n(shape)
    return {
        "tokens_per_second": round(mean, 1),
        "mfu_4n": round(mfu(mean, flops), 4),
        "tokens_per_second_median": round(median, 1),
        "mfu_4n_median": round(mfu(median, flops), 4),
    }


OUT = Path(".")


def main(argv: list[str]) -> int:
    global OUT
    out = OUT = Path(argv[0])
    try:  # Unsloth before transformers (building the models imports it), as forge train does
        import torch

        if torch.cuda.is_available():
            from forge.train.backends.unsloth import import_unsloth

            import_unsloth()
    except Exception as e:  # noqa: BLE001  the cases report their own failure
        print(f"unsloth not imported first: {e}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    names = argv[1:] or list(CASES)
    root = Path("/tmp/forge-plan-vs-peak")
    for name in names:
        try:
            row = run_case(name, root)
        except Exception as e:  # one case's failure must not lose the others
            row = {"case": name, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
        print(json.dumps({k: v for k, v in row.items() if k not in ("trace", "plan_memory", "settings")}), flush=True)
        with open(out / "plan_vs_peak.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
