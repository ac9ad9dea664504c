"""metrics/loss.png from metrics/training-history.jsonl (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

from forge.records.train import read_history


def plot_loss(history: Path, out: Path, title: str = "") -> Path | None:
    rows = read_history(history)  # the one history reader: a line torn by a kill is skipped
    train = [(r.step, r.loss) for r in rows if r.loss is not None]
    evals = [(r.step, r.eval_loss) for r in rows if r.is_eval]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="train loss", linewidth=1.2)
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", label="eval loss", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title or "training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out
