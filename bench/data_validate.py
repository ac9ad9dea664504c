"""Validate a large synthetic JSONL (default 1 GB) and report lines/s and peak memory.

    python3 bench/data_validate.py                # 1024 MB, appends a row to docs/benchmarks.md
    python3 bench/data_validate.py --size-mb 5 --no-record --json

The file is written to a temporary folder and deleted afterwards. Validation runs in a fresh child
process, so its peak RSS (getrusage) is the validator's alone; the growth over the child's RSS after
its imports is what the file's size could cause. Memory must not follow the file size: only the
16 bytes a row of the duplicate index do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Data validation (CPU)"
HEADER = (
    "| date | CPU | file | rows | seconds | lines/s | MB/s | peak RSS MB | RSS growth MB | command |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)
WORDS = (
    "the model learns from data that is checked line by line before training starts and every problem "
    "names its line and its fix so nothing is silently dropped or truncated during a run"
).split()

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from forge.data.validate import validate_file
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
base = rss_mb()
t = time.perf_counter()
r = validate_file(sys.argv[1])
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "rows": r.rows, "valid": r.valid, "duplicates": r.duplicates,
                  "problems": sum(r.counts.values()), "peak_rss_mb": peak, "base_rss_mb": base}))
"""


def generate(path: Path, size_mb: int, seed: int = 0) -> int:
    """A ShareGPT JSONL of about size_mb MB (1 to 4 exchanges a row, some tool calls); returns rows."""
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    written = rows = 0
    with open(path, "w", encoding="utf-8") as f:
        block: list[str] = []
        while written < target:
            turns = []
            if rng.random() < 0.2:
                turns.append({"from": "system", "value": "You are a helpful assistant for the Data Factory."})
            for _ in range(rng.randint(1, 4)):
                q = " ".join(rng.choices(WORDS, k=rng.randint(5, 40)))
                a = " ".join(rng.choices(WORDS, k=rng.randint(10, 120)))
                turns.append({"from": "human", "value": f"{q} #{rows}?"})
                if rng.random() < 0.1:
                    turns.append(
                        {"from": "function_call", "value": json.dumps({"name": "lookup", "arguments": {"q": q}})}
                    )
                    turns.append({"from": "observation", "value": json.dumps({"result": a[:80]})})
                turns.append({"from": "gpt", "value": a})
            line = json.dumps({"conversations": turns}, ensure_ascii=False) + "\n"
            block.append(line)
            written += len(line)
            rows += 1
            if len(block) >= 2000:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))
    return rows


def measure(path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(ROOT / "src")], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def record(row: str, doc: Path = ROOT / "docs" / "benchmarks.md", section: str = SECTION, header: str = HEADER) -> None:
    """Append a table row under `section` of docs/benchmarks.md (made if missing)."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n\nMeasured, with the machine named.\n"
    if section not in text:
        text = text.rstrip("\n") + f"\n\n{section}\n\n{header}\n"
    start = text.index(section)
    nxt = text.find("\n## ", start + len(section))
    end = len(text) if nxt < 0 else nxt
    body = text[start:end].rstrip("\n") + "\n" + row + "\n"
    text = text[:start] + body + ("\n" + text[end:].lstrip("\n") if nxt >= 0 else "")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def run(size_mb: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="forge-bench-") as tmp:
        path = Path(tmp) / "train.jsonl"
        t = time.perf_counter()
        rows = generate(path, size_mb)
        gen_s = time.perf_counter() - t
        size = path.stat().st_size
        m = measure(path)
    m.update(
        size_mb=size / 1e6,
        generated_rows=rows,
        generate_seconds=gen_s,
        lines_per_s=m["rows"] / m["seconds"],
        mb_per_s=size / 1e6 / m["seconds"],
        rss_growth_mb=m["peak_rss_mb"] - m["base_rss_mb"],
    )
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    m = run(args.size_mb)
    if args.json:
        print(json.dumps(m))
    else:
        print(
            f"{m['size_mb']:.0f} MB, {m['rows']} rows in {m['seconds']:.1f} s: {m['lines_per_s']:,.0f} lines/s, "
            f"{m['mb_per_s']:.1f} MB/s; peak RSS {m['peak_rss_mb']:.0f} MB (+{m['rss_growth_mb']:.0f} MB over imports)"
        )
    if not args.no_record:
        row = (
            f"| {time.strftime('%Y-%m-%d')} | {cpu_name()} | {m['size_mb']:.0f} MB JSONL | {m['rows']:,} | "
            f"{m['seconds']:.1f} | {m['lines_per_s']:,.0f} | {m['mb_per_s']:.1f} | {m['peak_rss_mb']:.0f} | "
            f"{m['rss_growth_mb']:.0f} | `python3 bench/data_validate.py --size-mb {args.size_mb}` |"
        )
        record(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
