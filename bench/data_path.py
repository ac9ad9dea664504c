"""The data path before training: validate, then template + tokenize, 100k conversations on 2 cores.

    python3 bench/data_path.py                      # 100k rows, 2 workers, appends to docs/benchmarks.md
    python3 bench/data_path.py --rows 5000 --no-record

Stage 1 (validate + load) is the one streaming pass of forge.data (load_conversations). Stage 2
renders each conversation with the tokenizer's chat template and tokenizes it with assistant-only
labels (forge.train.dataset.tokenize_conversations, builtin:tiny-llama's tokenizer), the shards
spread over --workers processes (dataset.num_proc is 2 by default). Stage 2 is skipped, and says
so, where those modules are not installed. Reported: rows/s per stage and end to end, peak RSS of
the main process and of the largest worker.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
SECTION = "## Data path: validate, template, tokenize (CPU)"
HEADER = (
    "| date | CPU | rows | workers | validate rows/s | tokenize rows/s | end-to-end rows/s | tokens | "
    "peak RSS MB (main / worker) | command |\n|---|---|---|---|---|---|---|---|---|---|"
)
MODEL = "builtin:tiny-llama"
WORDS = "the a model data line check train token answer question tool result value number of in on for is".split()


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            turns = [{"from": "system", "value": "You are concise."}] if rng.random() < 0.3 else []
            for _ in range(rng.randint(1, 3)):
                turns.append({"from": "human", "value": " ".join(rng.choices(WORDS, k=rng.randint(4, 30))) + f" {i}?"})
                turns.append({"from": "gpt", "value": " ".join(rng.choices(WORDS, k=rng.randint(8, 80))) + "."})
            f.write(json.dumps({"conversations": turns}) + "\n")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_TOKENIZER = None


def _tokenize_shard(args: tuple[list, int]) -> tuple[int, int, float]:
    from forge.train.dataset import tokenize_conversations

    shard, max_len = args
    examples, report = tokenize_conversations(shard, _TOKENIZER, max_len)
    return report.kept, report.total_tokens, _peak_mb()


def tokenize_stage(conversations: list, workers: int, max_len: int) -> dict:
    global _TOKENIZER
    try:
        from transformers import AutoTokenizer

        from forge.models.loader import builtin_path
        from forge.train.dataset import tokenize_conversations  # noqa: F401
    except ImportError as e:
        return {"skipped": f"tokenize stage skipped: {e}"}
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the cores go to the worker processes
    _TOKENIZER = AutoTokenizer.from_pretrained(str(builtin_path(MODEL)))
    t = time.perf_counter()
    size = -(-len(conversations) // (workers * 8))  # 8 shards a worker: even load, bounded pickles
    shards = [(conversations[i : i + size], max_len) for i in range(0, len(conversations), size)]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.map(_tokenize_shard, shards)
    else:
        results = [_tokenize_shard(s) for s in shards]
    dt = time.perf_counter() - t
    kept = sum(r[0] for r in results)
    return {
        "seconds": dt,
        "kept": kept,
        "tokens": sum(r[1] for r in results),
        "rows_per_s": len(conversations) / dt,
        "worker_peak_rss_mb": max(r[2] for r in results),
    }


def run(rows: int, workers: int, max_len: int = 1024) -> dict:
    from forge.data import load_conversations

    with tempfile.TemporaryDirectory(prefix="forge-bench-") as tmp:
        path = Path(tmp) / "train.jsonl"
        generate(path, rows)
        t = time.perf_counter()
        conversations = load_conversations(path)
        v = time.perf_counter() - t
    out = {"rows": rows, "workers": workers, "validate_seconds": v, "validate_rows_per_s": rows / v}
    tok = tokenize_stage(conversations, workers, max_len)
    out["tokenize"] = tok
    if "seconds" in tok:
        out["end_to_end_rows_per_s"] = rows / (v + tok["seconds"])
    out["main_peak_rss_mb"] = _peak_mb()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-seq-length", type=int, default=1024)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    m = run(args.rows, args.workers, args.max_seq_length)
    tok = m["tokenize"]
    if args.json:
        print(json.dumps(m))
    else:
        print(
            f"validate+load: {m['rows']} rows in {m['validate_seconds']:.1f} s ({m['validate_rows_per_s']:,.0f} rows/s)"
        )
        if "skipped" in tok:
            print(tok["skipped"])
        else:
            print(
                f"template+tokenize ({args.workers} workers): {tok['seconds']:.1f} s ({tok['rows_per_s']:,.0f} rows/s), "
                f"{tok['tokens']:,} tokens, {tok['kept']} kept; end to end {m['end_to_end_rows_per_s']:,.0f} rows/s"
            )
        print(f"peak RSS: main {m['main_peak_rss_mb']:.0f} MB, worker {tok.get('worker_peak_rss_mb', 0):.0f} MB")
    if not args.no_record and "skipped" not in tok:
        from data_validate import cpu_name, record

        row = (
            f"| {time.strftime('%Y-%m-%d')} | {cpu_name()} | {m['rows']:,} | {args.workers} | "
            f"{m['validate_rows_per_s']:,.0f} | {tok['rows_per_s']:,.0f} | {m['end_to_end_rows_per_s']:,.0f} | "
            f"{tok['tokens']:,} | {m['main_peak_rss_mb']:.0f} / {tok['worker_peak_rss_mb']:.0f} | "
            f"`python3 bench/data_path.py --rows {args.rows} --workers {args.workers}` |"
        )
        record(row, section=SECTION, header=HEADER)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
