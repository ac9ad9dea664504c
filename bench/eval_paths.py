"""Seconds per 1,000 val tokens of each scoring path: adapter (transformers + PEFT), merged
(transformers), and each GGUF (llama.cpp, batched over whole sequences), on this machine's CPU.

    python3 bench/eval_paths.py PROJECT [--artifacts adapter,merged,gguf:q8_0,gguf:q4_k_m]
    python3 bench/eval_paths.py PROJECT --from-record   # the timings metrics/evaluation.json holds

PROJECT is a trained and exported forge project (forge demo's, for Gemma 3 270M). Each path scores
the whole val split (the loss pass: every token of every example through the model) and the
generation sample, exactly as `forge evaluate --artifact` does; nothing is written to the project.
Prints one JSON object and the markdown rows for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--artifacts", default="adapter,merged,gguf:q8_0,gguf:q4_k_m")
    ap.add_argument(
        "--from-record",
        action="store_true",
        help="Read the timings `forge evaluate --artifact all` recorded instead of scoring again.",
    )
    args = ap.parse_args(argv)
    if args.from_record:
        return _from_record(args.project)

    from forge.config.verb_config import reader_config
    from forge.evaluate.artifact_eval import score_artifact
    from forge.evaluate.artifacts import locate
    from forge.evaluate.baseline import load_val, score_with
    from forge.project import Project

    project = Project.existing(args.project)
    val = load_val(project, None, reader_config(project))
    rows = []
    for name in args.artifacts.split(","):  # each path scores the same examples and sample
        (artifact,) = locate(project, val.cfg, [name.strip()])
        t0 = time.monotonic()
        if artifact.kind == "adapter":
            detail = score_with(val, adapter=artifact.path)
        else:
            detail, _ = score_artifact(val, artifact)
        rows.append(_row(artifact.name, detail.model_dump(), time.monotonic() - t0))
        print(json.dumps(rows[-1]), file=sys.stderr)
    return _report(val.cfg.model.name, rows)


def _row(name: str, detail: dict, wall: float | None = None) -> dict:
    tokens = detail.get("val_tokens_total") or 0
    seconds = detail.get("seconds") or {}
    loss_s, gen_s = seconds.get("loss", 0.0), seconds.get("generation", 0.0)
    return {
        "artifact": name,
        "val_tokens": tokens,
        "loss_seconds": loss_s,
        "loss_s_per_1k_tokens": round(1000 * loss_s / tokens, 3) if tokens else None,
        "generation_seconds": gen_s,
        "generation_samples": detail.get("generation_samples"),
        "wall_seconds_with_load": round(wall, 1) if wall is not None else None,
        "val_loss": detail.get("val_loss"),
    }


def _from_record(root: Path) -> int:
    data = json.loads((root / "metrics" / "evaluation.json").read_text())
    rows = [_row("adapter", data["fine_tuned_scores"])]
    rows += [_row(r["artifact"], r["detail"]) for r in data.get("artifacts", []) if r["artifact"] != "adapter"]
    return _report(data["model"], rows)


def _report(model: str, rows: list[dict]) -> int:
    out = {"cpu": _cpu(), "cores": os.cpu_count(), "load_average": os.getloadavg(), "model": model, "rows": rows}
    print(json.dumps(out, indent=2))
    for r in rows:
        print(
            f"| {time.strftime('%Y-%m-%d')} | {out['cores']} cores | {out['model']} | {r['artifact']} | {r['val_tokens']} "
            f"| {r['loss_seconds']} | {r['loss_s_per_1k_tokens']} | {r['generation_seconds']} ({r['generation_samples']} answers) "
            f"| {r['val_loss']} |"
        )
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
