"""metrics/training-stats.json: the final numbers of a run (torch-free).

Keeps the original script's keys (model, dataset_samples, final_loss, total_steps, epochs,
completed_at) and adds what a reader needs to judge the run without opening the log.
"""

from __future__ import annotations

import importlib.metadata
import platform
from statistics import fmean

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "unsloth")


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def data_counts(report) -> dict:
    """The tokenization report as plain numbers, whatever its exact class looks like."""
    if report is None:
        return {}
    if hasattr(report, "to_dict"):
        d = report.to_dict()
    else:
        d = {k: v for k, v in vars(report).items() if not k.startswith("_")}
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None)))}


def loss_summary(history: list[dict]) -> dict:
    train = [r["loss"] for r in history if r.get("loss") is not None]
    evals = [r["eval_loss"] for r in history if r.get("loss") is None and r.get("eval_loss") is not None]
    return {
        "final_train_loss": train[-1] if train else None,
        "mean_train_loss": round(fmean(train), 6) if train else None,
        "first_train_loss": train[0] if train else None,
        "eval_loss": evals[-1] if evals else None,
        "best_eval_loss": min(evals) if evals else None,
        "eval_count": len(evals),
    }
